#include "kernel.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <linux/dm-red.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <sys/socket.h>

namespace redd::daemon {

namespace {

constexpr int kRcvBuf = 8 * 1024 * 1024;
constexpr std::size_t kMsgBuf = std::size_t{64} * 1024;

using Policy = std::array<nla_policy, DM_RED_A_MAX + 1>;

Policy make_policy() {
    Policy p{};
    auto set = [&p](int attr, std::uint16_t type) {
        p.at(static_cast<std::size_t>(attr)).type = type;
    };
    set(DM_RED_A_PROTO_MIN, NLA_U32);
    set(DM_RED_A_PROTO_MAX, NLA_U32);
    set(DM_RED_A_PROTO_VERSION, NLA_U32);
    set(DM_RED_A_FEATURES, NLA_U64);
    set(DM_RED_A_RESOURCE, NLA_STRING);
    p.at(DM_RED_A_RESOURCE).maxlen = DM_RED_RESOURCE_MAX;
    set(DM_RED_A_EPOCH, NLA_U64);
    set(DM_RED_A_REQ_ID, NLA_U64);
    set(DM_RED_A_RANGES, NLA_UNSPEC);
    set(DM_RED_A_ERROR, NLA_U32);
    set(DM_RED_A_LEASE_MS, NLA_U32);
    set(DM_RED_A_MEMBERS, NLA_U32);
    set(DM_RED_A_SEQ, NLA_U64);
    set(DM_RED_A_EVENT, NLA_U32);
    set(DM_RED_A_ROLE, NLA_U32);
    set(DM_RED_A_STATE, NLA_U32);
    set(DM_RED_A_CHUNK_SECTORS, NLA_U32);
    for (int a : {DM_RED_A_NR_CHUNKS, DM_RED_A_STORE_USED, DM_RED_A_STORE_TOTAL,
                  DM_RED_A_STABLE_CHUNKS, DM_RED_A_HELD_BIOS, DM_RED_A_OUTSTANDING,
                  DM_RED_A_PRESERVES, DM_RED_A_COW_COPIES, DM_RED_A_ERRORS}) {
        set(a, NLA_U64);
    }
    set(DM_RED_A_DM_NAME, NLA_STRING);
    set(DM_RED_A_LEASE_LEFT_MS, NLA_U32);
    return p;
}

using Attrs = std::array<nlattr *, DM_RED_A_MAX + 1>;

std::uint64_t get_u64(const Attrs &tb, int a, std::uint64_t def = 0) {
    nlattr *n = tb.at(static_cast<std::size_t>(a));
    return n != nullptr ? nla_get_u64(n) : def;
}
std::uint32_t get_u32(const Attrs &tb, int a, std::uint32_t def = 0) {
    nlattr *n = tb.at(static_cast<std::size_t>(a));
    return n != nullptr ? nla_get_u32(n) : def;
}
std::string get_str(const Attrs &tb, int a) {
    nlattr *n = tb.at(static_cast<std::size_t>(a));
    if (n == nullptr || nla_len(n) < 1) {
        return {};
    }
    const auto *data = static_cast<const char *>(nla_data(n));
    return {data, strnlen(data, static_cast<std::size_t>(nla_len(n)))};
}
bool has(const Attrs &tb, int a) {
    return tb.at(static_cast<std::size_t>(a)) != nullptr;
}

KState parse_state(const Attrs &tb) {
    KState s;
    s.resource = get_str(tb, DM_RED_A_RESOURCE);
    s.dm_name = get_str(tb, DM_RED_A_DM_NAME);
    s.has_role = has(tb, DM_RED_A_ROLE);
    s.has_state = has(tb, DM_RED_A_STATE);
    s.has_epoch = has(tb, DM_RED_A_EPOCH);
    s.role = get_u32(tb, DM_RED_A_ROLE);
    s.state = get_u32(tb, DM_RED_A_STATE);
    s.epoch = get_u64(tb, DM_RED_A_EPOCH);
    s.chunk_sectors = get_u32(tb, DM_RED_A_CHUNK_SECTORS);
    s.nr_chunks = get_u64(tb, DM_RED_A_NR_CHUNKS);
    s.store_total = get_u64(tb, DM_RED_A_STORE_TOTAL);
    s.store_used = get_u64(tb, DM_RED_A_STORE_USED);
    s.seq = get_u64(tb, DM_RED_A_SEQ);
    return s;
}

// The extended ack text of an NLMSG_ERROR, or "" (netlink's C layout needs the casts).
// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast,cppcoreguidelines-pro-type-const-cast)
std::string extack_text(const nlmsgerr *e) {
    const auto *h =
        reinterpret_cast<const nlmsghdr *>(reinterpret_cast<const char *>(e) - NLMSG_HDRLEN);
    if ((h->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
        return {};
    }
    std::size_t off = NLMSG_HDRLEN + sizeof(*e);
    if ((h->nlmsg_flags & NLM_F_CAPPED) == 0) {
        off += e->msg.nlmsg_len - NLMSG_HDRLEN;
    }
    if (off >= h->nlmsg_len) {
        return {};
    }
    std::array<nlattr *, NLMSGERR_ATTR_MAX + 1> tb{};
    auto *start = const_cast<char *>(reinterpret_cast<const char *>(h)) + NLMSG_ALIGN(off);
    if (nla_parse(tb.data(), NLMSGERR_ATTR_MAX, reinterpret_cast<nlattr *>(start),
                  static_cast<int>(h->nlmsg_len - NLMSG_ALIGN(off)), nullptr) < 0) {
        return {};
    }
    nlattr *m = tb.at(NLMSGERR_ATTR_MSG);
    if (m == nullptr || nla_len(m) < 1) {
        return {};
    }
    const auto *data = static_cast<const char *>(nla_data(m));
    return {data, strnlen(data, static_cast<std::size_t>(nla_len(m)))};
}
// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast,cppcoreguidelines-pro-type-const-cast)

void check_put(int rc) {
    if (rc < 0) {
        throw KernelError(std::string("netlink message too big: ") + nl_geterror(rc));
    }
}

} // namespace

std::string_view role_name(std::uint32_t role) {
    switch (role) {
    case DM_RED_ROLE_WRITER:
        return "writer";
    case DM_RED_ROLE_COPIER:
        return "copier";
    default:
        return "unknown";
    }
}

std::string_view state_name(std::uint32_t state) {
    switch (state) {
    case DM_RED_STATE_ACTIVE:
        return "active";
    case DM_RED_STATE_JOINING:
        return "joining";
    case DM_RED_STATE_DRAINING:
        return "draining";
    case DM_RED_STATE_FAILED:
        return "failed";
    case DM_RED_STATE_PROMOTING:
        return "promoting";
    case DM_RED_STATE_WRITEBACK:
        return "writeback";
    case DM_RED_STATE_HELD:
        return "held";
    default:
        return "unknown";
    }
}

std::string_view event_name(std::uint32_t event) {
    switch (event) {
    case DM_RED_EV_CREATED:
        return "created";
    case DM_RED_EV_DESTROYED:
        return "destroyed";
    case DM_RED_EV_STATE:
        return "state";
    case DM_RED_EV_EPOCH:
        return "epoch";
    case DM_RED_EV_STORE_FULL:
        return "store_full";
    case DM_RED_EV_LEASE_EXPIRED:
        return "lease_expired";
    case DM_RED_EV_GC:
        return "gc";
    case DM_RED_EV_DAEMON_GONE:
        return "daemon_gone";
    case DM_RED_EV_PROMOTED:
        return "promoted";
    default:
        return "unknown";
    }
}

void KernelChannel::MsgDeleter::operator()(nl_msg *msg) const {
    nlmsg_free(msg);
}
void KernelChannel::SockDeleter::operator()(nl_sock *sock) const {
    nl_socket_free(sock);
}
void KernelChannel::CbDeleter::operator()(nl_cb *cb) const {
    nl_cb_put(cb);
}

KernelChannel::KernelChannel(const Logger &log, Sink sink)
    : log_(log), sink_(std::move(sink)), sock_(nl_socket_alloc()) {
    if (!sock_) {
        throw KernelError("nl_socket_alloc failed");
    }
    int err = genl_connect(sock_.get());
    if (err < 0) {
        throw KernelError(std::string("genl_connect: ") + nl_geterror(err));
    }
    nl_socket_disable_seq_check(sock_.get());
    nl_socket_disable_auto_ack(sock_.get());
    if (nl_socket_set_buffer_size(sock_.get(), kRcvBuf, 0) < 0) {
        log_.warn("cannot set the netlink socket buffer size");
    }
    const int fd = nl_socket_get_fd(sock_.get());
    const int size = kRcvBuf;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
    const int one = 1;
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
    err = nl_socket_set_msg_buf_size(sock_.get(), kMsgBuf);
    if (err < 0) {
        throw KernelError(std::string("nl_socket_set_msg_buf_size: ") + nl_geterror(err));
    }
    family_ = genl_ctrl_resolve(sock_.get(), DM_RED_GENL_NAME);
    if (family_ < 0) {
        throw KernelError(std::string("cannot resolve generic netlink family \"") +
                          DM_RED_GENL_NAME + "\": " + nl_geterror(family_) +
                          " (is dm-red loaded?)");
    }
    const int group = genl_ctrl_resolve_grp(sock_.get(), DM_RED_GENL_NAME, DM_RED_MCGRP_EVENTS);
    if (group < 0) {
        throw KernelError(std::string("no multicast group \"") + DM_RED_MCGRP_EVENTS +
                          "\": " + nl_geterror(group));
    }
    // Subscribe before anything is dumped, so no event falls in between.
    err = nl_socket_add_membership(sock_.get(), group);
    if (err < 0) {
        throw KernelError(std::string("cannot join the events group: ") + nl_geterror(err));
    }
    err = nl_socket_set_nonblocking(sock_.get());
    if (err < 0) {
        throw KernelError(std::string("nl_socket_set_nonblocking: ") + nl_geterror(err));
    }
    cb_.reset(nl_cb_alloc(NL_CB_DEFAULT));
    if (!cb_) {
        throw KernelError("nl_cb_alloc failed");
    }
    nl_cb_set(
        cb_.get(), NL_CB_SEQ_CHECK, NL_CB_CUSTOM,
        [](nl_msg * /*msg*/, void * /*arg*/) { return static_cast<int>(NL_OK); }, nullptr);
    nl_cb_set(cb_.get(), NL_CB_VALID, NL_CB_CUSTOM, &KernelChannel::valid_cb, this);
    nl_cb_set(cb_.get(), NL_CB_ACK, NL_CB_CUSTOM, &KernelChannel::ack_cb, this);
    nl_cb_set(cb_.get(), NL_CB_FINISH, NL_CB_CUSTOM, &KernelChannel::finish_cb, this);
    nl_cb_err(cb_.get(), NL_CB_CUSTOM, &KernelChannel::error_cb, this);
}

KernelChannel::~KernelChannel() = default;

int KernelChannel::fd() const {
    return nl_socket_get_fd(sock_.get());
}

KernelChannel::MsgPtr KernelChannel::message(std::uint8_t cmd, int flags) const {
    MsgPtr msg(nlmsg_alloc_size(kMsgBuf));
    if (!msg) {
        throw KernelError("cannot allocate a netlink message");
    }
    if (genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family_, 0, flags, cmd,
                    DM_RED_GENL_VERSION) == nullptr) {
        throw KernelError("cannot build a netlink message");
    }
    return msg;
}

void KernelChannel::send(MsgPtr msg, const char *what, Done done) {
    nlmsghdr *h = nlmsg_hdr(msg.get());
    if ((h->nlmsg_flags & NLM_F_DUMP) == 0) {
        h->nlmsg_flags |= NLM_F_ACK;
    }
    const int err = nl_send_auto(sock_.get(), msg.get());
    if (err < 0) {
        log_.error("sending ", what, " to the kernel: ", nl_geterror(err));
        if (done) {
            done(err == -NLE_PERM ? -EPERM : -EIO, "send failed");
        }
        return;
    }
    pending_[h->nlmsg_seq] = Pending{what, std::move(done)};
}

void KernelChannel::complete(std::uint32_t seq, int error, const std::string &extack) {
    auto it = pending_.find(seq);
    if (it == pending_.end()) {
        if (error != 0) {
            log_.debug("netlink error ", errno_name(error), " for unknown seq ", seq);
        }
        return;
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    if (error != 0) {
        log_.debug(p.what, ": kernel said ", errno_name(error), extack.empty() ? "" : ": ", extack);
    }
    if (p.done) {
        p.done(error, extack);
    }
}

bool KernelChannel::receive() {
    for (int batch = 0; batch < 1024; ++batch) {
        const int n = nl_recvmsgs_report(sock_.get(), cb_.get());
        if (n > 0) {
            continue;
        }
        if (n == 0 || n == -NLE_AGAIN) {
            return true;
        }
        if (n == -NLE_NOMEM) {
            return false; // ENOBUFS: overrun
        }
        log_.error("netlink receive: ", nl_geterror(n));
        return true;
    }
    return true;
}

int KernelChannel::valid_cb(nl_msg *msg, void *arg) {
    return static_cast<KernelChannel *>(arg)->on_valid(msg);
}

int KernelChannel::ack_cb(nl_msg *msg, void *arg) {
    const auto *e = static_cast<const nlmsgerr *>(nlmsg_data(nlmsg_hdr(msg)));
    static_cast<KernelChannel *>(arg)->complete(e->msg.nlmsg_seq, 0, {});
    return NL_OK;
}

int KernelChannel::finish_cb(nl_msg *msg, void *arg) {
    nlmsghdr *h = nlmsg_hdr(msg);
    int error = 0;
    if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)) {
        std::memcpy(&error, nlmsg_data(h), sizeof(error));
    }
    static_cast<KernelChannel *>(arg)->complete(h->nlmsg_seq, error, {});
    return NL_OK;
}

int KernelChannel::error_cb(sockaddr_nl * /*nla*/, nlmsgerr *err, void *arg) {
    static_cast<KernelChannel *>(arg)->complete(err->msg.nlmsg_seq, err->error, extack_text(err));
    return NL_SKIP;
}

int KernelChannel::on_valid(nl_msg *msg) {
    nlmsghdr *h = nlmsg_hdr(msg);
    if (h->nlmsg_type != family_) {
        return NL_SKIP;
    }
    const auto *g = static_cast<const genlmsghdr *>(nlmsg_data(h));
    static const Policy policy = make_policy();
    Attrs tb{};
    // libnl takes a non-const policy; it does not write to it.
    // NOLINTBEGIN(cppcoreguidelines-pro-type-const-cast)
    const int err =
        genlmsg_parse(h, 0, tb.data(), DM_RED_A_MAX, const_cast<nla_policy *>(policy.data()));
    // NOLINTEND(cppcoreguidelines-pro-type-const-cast)
    if (err < 0) {
        log_.error("cannot parse a kernel message (cmd ", static_cast<int>(g->cmd),
                   "): ", nl_geterror(err));
        return NL_SKIP;
    }
    switch (g->cmd) {
    case DM_RED_CMD_REGISTER:
        sink_(KRegistered{get_u32(tb, DM_RED_A_PROTO_VERSION), get_u64(tb, DM_RED_A_FEATURES)});
        break;
    case DM_RED_CMD_STATE:
    case DM_RED_CMD_GET_STATE:
        sink_(KDumped{parse_state(tb)});
        break;
    case DM_RED_CMD_EVENT:
        sink_(KEvent{get_u32(tb, DM_RED_A_EVENT), parse_state(tb)});
        break;
    case DM_RED_CMD_STABILIZE: {
        KStabilize s;
        s.resource = get_str(tb, DM_RED_A_RESOURCE);
        s.epoch = get_u64(tb, DM_RED_A_EPOCH);
        s.request_id = get_u64(tb, DM_RED_A_REQ_ID);
        nlattr *r = tb.at(DM_RED_A_RANGES);
        if (s.resource.empty() || !has(tb, DM_RED_A_EPOCH) || !has(tb, DM_RED_A_REQ_ID) ||
            r == nullptr || nla_len(r) <= 0 ||
            static_cast<std::size_t>(nla_len(r)) % sizeof(dm_red_range) != 0 ||
            static_cast<std::size_t>(nla_len(r)) / sizeof(dm_red_range) > DM_RED_MAX_RANGES) {
            log_.error("malformed STABILIZE from the kernel ignored");
            break;
        }
        const std::size_t n = static_cast<std::size_t>(nla_len(r)) / sizeof(dm_red_range);
        const auto *bytes = static_cast<const std::uint8_t *>(nla_data(r));
        for (std::size_t i = 0; i < n; ++i) {
            dm_red_range range{};
            std::memcpy(&range, bytes + i * sizeof(range), sizeof(range));
            s.ranges.push_back(ChunkRange{range.start, range.count});
        }
        sink_(std::move(s));
        break;
    }
    case DM_RED_CMD_PRESERVE_DONE:
        sink_(KPreserveDone{get_str(tb, DM_RED_A_RESOURCE), get_u64(tb, DM_RED_A_EPOCH),
                            get_u64(tb, DM_RED_A_REQ_ID),
                            static_cast<std::int32_t>(get_u32(tb, DM_RED_A_ERROR))});
        break;
    case DM_RED_CMD_EPOCH_DONE:
        sink_(KEpochDone{get_str(tb, DM_RED_A_RESOURCE), get_u64(tb, DM_RED_A_EPOCH),
                         get_u64(tb, DM_RED_A_REQ_ID)});
        break;
    default:
        log_.debug("ignoring kernel message cmd ", static_cast<int>(g->cmd));
        break;
    }
    return NL_OK;
}

void KernelChannel::register_daemon(Done done) {
    MsgPtr m = message(DM_RED_CMD_REGISTER, 0);
    check_put(nla_put_u32(m.get(), DM_RED_A_PROTO_MIN, DM_RED_PROTO_VERSION_MIN));
    check_put(nla_put_u32(m.get(), DM_RED_A_PROTO_MAX, DM_RED_PROTO_VERSION_MAX));
    check_put(nla_put_u64(m.get(), DM_RED_A_FEATURES, DM_RED_FEATURES_ALL));
    send(std::move(m), "REGISTER", std::move(done));
}

void KernelChannel::dump(Done done) {
    send(message(DM_RED_CMD_GET_STATE, NLM_F_DUMP), "GET_STATE", std::move(done));
}

void KernelChannel::stabilize_ack(const std::string &resource, std::uint64_t epoch,
                                  std::uint64_t request_id, std::int32_t error, Done done) {
    MsgPtr m = message(DM_RED_CMD_STABILIZE_ACK, 0);
    check_put(nla_put_string(m.get(), DM_RED_A_RESOURCE, resource.c_str()));
    check_put(nla_put_u64(m.get(), DM_RED_A_EPOCH, epoch));
    check_put(nla_put_u64(m.get(), DM_RED_A_REQ_ID, request_id));
    if (error != 0) {
        check_put(nla_put_u32(m.get(), DM_RED_A_ERROR, static_cast<std::uint32_t>(error)));
    }
    send(std::move(m), "STABILIZE_ACK", std::move(done));
}

void KernelChannel::preserve(const std::string &resource, std::uint64_t epoch,
                             std::uint64_t request_id, const std::vector<ChunkRange> &ranges,
                             Done done) {
    MsgPtr m = message(DM_RED_CMD_PRESERVE, 0);
    check_put(nla_put_string(m.get(), DM_RED_A_RESOURCE, resource.c_str()));
    check_put(nla_put_u64(m.get(), DM_RED_A_EPOCH, epoch));
    check_put(nla_put_u64(m.get(), DM_RED_A_REQ_ID, request_id));
    std::vector<dm_red_range> raw;
    raw.reserve(ranges.size());
    for (const auto &r : ranges) {
        raw.push_back(dm_red_range{r.start, r.count});
    }
    check_put(nla_put(m.get(), DM_RED_A_RANGES, static_cast<int>(raw.size() * sizeof(dm_red_range)),
                      raw.data()));
    send(std::move(m), "PRESERVE", std::move(done));
}

void KernelChannel::new_epoch(const std::string &resource, std::uint64_t request_id,
                              std::uint32_t members, Done done) {
    MsgPtr m = message(DM_RED_CMD_NEW_EPOCH, 0);
    check_put(nla_put_string(m.get(), DM_RED_A_RESOURCE, resource.c_str()));
    check_put(nla_put_u64(m.get(), DM_RED_A_REQ_ID, request_id));
    check_put(nla_put_u32(m.get(), DM_RED_A_MEMBERS, members));
    send(std::move(m), "NEW_EPOCH", std::move(done));
}

void KernelChannel::join_ack(const std::string &resource, std::uint64_t epoch, Done done) {
    MsgPtr m = message(DM_RED_CMD_JOIN_ACK, 0);
    check_put(nla_put_string(m.get(), DM_RED_A_RESOURCE, resource.c_str()));
    check_put(nla_put_u64(m.get(), DM_RED_A_EPOCH, epoch));
    send(std::move(m), "JOIN_ACK", std::move(done));
}

void KernelChannel::lease(const std::string &resource, std::uint32_t lease_ms, Done done) {
    MsgPtr m = message(DM_RED_CMD_LEASE, 0);
    check_put(nla_put_string(m.get(), DM_RED_A_RESOURCE, resource.c_str()));
    check_put(nla_put_u32(m.get(), DM_RED_A_LEASE_MS, lease_ms));
    send(std::move(m), "LEASE", std::move(done));
}

void KernelChannel::promote(const std::string &resource, std::uint64_t epoch, std::uint32_t members,
                            Done done) {
    MsgPtr m = message(DM_RED_CMD_PROMOTE, 0);
    check_put(nla_put_string(m.get(), DM_RED_A_RESOURCE, resource.c_str()));
    check_put(nla_put_u64(m.get(), DM_RED_A_EPOCH, epoch));
    check_put(nla_put_u32(m.get(), DM_RED_A_MEMBERS, members));
    send(std::move(m), "PROMOTE", std::move(done));
}

} // namespace redd::daemon
