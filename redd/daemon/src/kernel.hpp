// The channel to the local dm-red kernel module: generic netlink family
// "dm_red" (include/uapi/linux/dm-red.h, Documentation/netlink.rst).
//
// Requests are sent asynchronously; each one's netlink acknowledgement (or
// error) is delivered to its callback.  Messages from the kernel (state dump,
// events, STABILIZE, PRESERVE_DONE, EPOCH_DONE) are parsed into the structs
// below and handed to the sink.
#pragma once

#include "frame.hpp"
#include "log.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

struct nl_sock;
struct nl_msg;
struct nl_cb;
struct nlmsgerr;
struct sockaddr_nl;

namespace redd::daemon {

class KernelError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// State attributes of one device (STATE and EVENT messages).
struct KState {
    std::string resource;
    std::string dm_name;
    std::uint32_t role = 0;  // DM_RED_ROLE_*
    std::uint32_t state = 0; // DM_RED_STATE_*
    std::uint64_t epoch = 0;
    std::uint32_t chunk_sectors = 0;
    std::uint64_t nr_chunks = 0;
    std::uint64_t store_total = 0;
    std::uint64_t store_used = 0; // chunks
    std::uint64_t seq = 0;
    bool has_role = false;
    bool has_state = false;
    bool has_epoch = false;
};

struct KDumped {
    KState state;
};
struct KEvent {
    std::uint32_t event = 0; // DM_RED_EV_*
    KState state;            // resource empty for DAEMON_GONE
};
struct KStabilize {
    std::string resource;
    std::uint64_t epoch = 0;
    std::uint64_t request_id = 0;
    std::vector<ChunkRange> ranges;
};
struct KPreserveDone {
    std::string resource;
    std::uint64_t epoch = 0;
    std::uint64_t request_id = 0;
    std::int32_t error = 0;
};
struct KEpochDone {
    std::string resource;
    std::uint64_t epoch = 0;
    std::uint64_t request_id = 0;
};
struct KRegistered {
    std::uint32_t version = 0;
    std::uint64_t features = 0;
};

using KernelMessage =
    std::variant<KDumped, KEvent, KStabilize, KPreserveDone, KEpochDone, KRegistered>;

std::string_view role_name(std::uint32_t role);
std::string_view state_name(std::uint32_t state);
std::string_view event_name(std::uint32_t event);

class KernelChannel {
public:
    // Called with the netlink ack of a request: 0 or -errno, and the
    // extended ack text (may be empty).
    using Done = std::function<void(int error, const std::string &extack)>;
    using Sink = std::function<void(KernelMessage)>;

    // Opens the socket, resolves the family and the events group and
    // subscribes to it.  Throws KernelError.
    KernelChannel(const Logger &log, Sink sink);
    KernelChannel(const KernelChannel &) = delete;
    KernelChannel &operator=(const KernelChannel &) = delete;
    KernelChannel(KernelChannel &&) = delete;
    KernelChannel &operator=(KernelChannel &&) = delete;
    ~KernelChannel();

    [[nodiscard]] int fd() const;

    // Reads everything available.  Returns false on a receive overrun (events
    // or answers may have been lost: the caller re-dumps and re-registers).
    bool receive();
    // Forgets every pending request (after an overrun).
    void forget_pending() { pending_.clear(); }

    // REGISTER with protocol versions 1..1 and every known feature.
    void register_daemon(Done done);
    // GET_STATE dump: one KDumped per device, then done.
    void dump(Done done);
    void stabilize_ack(const std::string &resource, std::uint64_t epoch, std::uint64_t request_id,
                       std::int32_t error, Done done);
    void preserve(const std::string &resource, std::uint64_t epoch, std::uint64_t request_id,
                  const std::vector<ChunkRange> &ranges, Done done);
    void new_epoch(const std::string &resource, std::uint64_t request_id, std::uint32_t members,
                   Done done);
    void join_ack(const std::string &resource, std::uint64_t epoch, Done done);
    void lease(const std::string &resource, std::uint32_t lease_ms, Done done);
    // PROMOTE: the copier becomes the writer at `epoch` with `members` copiers.
    void promote(const std::string &resource, std::uint64_t epoch, std::uint32_t members,
                 Done done);

private:
    struct MsgDeleter {
        void operator()(nl_msg *msg) const;
    };
    using MsgPtr = std::unique_ptr<nl_msg, MsgDeleter>;
    struct SockDeleter {
        void operator()(nl_sock *sock) const;
    };
    struct CbDeleter {
        void operator()(nl_cb *cb) const;
    };

    MsgPtr message(std::uint8_t cmd, int flags) const;
    void send(MsgPtr msg, const char *what, Done done);
    void complete(std::uint32_t seq, int error, const std::string &extack);

    int on_valid(nl_msg *msg);
    static int valid_cb(nl_msg *msg, void *arg);
    static int ack_cb(nl_msg *msg, void *arg);
    static int finish_cb(nl_msg *msg, void *arg);
    static int error_cb(sockaddr_nl *nla, nlmsgerr *err, void *arg);

    const Logger &log_;
    Sink sink_;
    std::unique_ptr<nl_sock, SockDeleter> sock_;
    std::unique_ptr<nl_cb, CbDeleter> cb_;
    int family_ = -1;
    struct Pending {
        std::string what;
        Done done;
    };
    std::map<std::uint32_t, Pending> pending_; // netlink seq -> request
};

} // namespace redd::daemon
