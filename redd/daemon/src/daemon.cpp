#include "daemon.hpp"

#include "crypto.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <iterator>
#include <linux/dm-red.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

namespace redd::daemon {

namespace {

constexpr std::uint64_t kTokNetlink = 1;
constexpr std::uint64_t kTokListen = 2;
constexpr std::uint64_t kTokTimer = 3;
constexpr std::uint64_t kTokSignal = 4;
constexpr std::uint64_t kTokControl = 5;
constexpr Millis kJoinTimeout{30000};
constexpr Millis kMaxBackoff{2000};
constexpr std::uint32_t kErrNotMember = 1;
constexpr std::uint32_t kErrDown = 2;

std::uint64_t micros(TimePoint from, TimePoint to) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
    return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

std::string ranges_text(const std::vector<ChunkRange> &ranges) {
    std::string out;
    for (std::size_t i = 0; i < ranges.size() && i < 4; ++i) {
        if (i != 0) {
            out.push_back(',');
        }
        out.append(std::to_string(ranges[i].start));
        out.push_back('+');
        out.append(std::to_string(ranges[i].count));
    }
    if (ranges.size() > 4) {
        out.append(",...(");
        out.append(std::to_string(ranges.size()));
        out.push_back(')');
    }
    return out;
}

Frame make_frame(const std::string &resource, std::uint64_t epoch, std::uint64_t request,
                 Payload payload) {
    Frame f;
    f.resource = resource;
    f.epoch = epoch;
    f.request_id = request;
    f.payload = std::move(payload);
    return f;
}

} // namespace

Daemon::Daemon(const Config &config, Logger &log)
    : config_(config),
      log_(log), timing_{config.lease(), config.lease_margin(), config.heartbeat()},
      epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_.valid()) {
        throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    }
    // Request ids unique across restarts: the kernel may re-send old ones.
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    next_request_ = (static_cast<std::uint64_t>(ts.tv_sec) << 20U) ^
                    static_cast<std::uint64_t>(ts.tv_nsec / 1000);
    if (next_request_ == 0) {
        next_request_ = 1;
    }
    for (const auto &rc : config_.resources()) {
        Resource r;
        r.config = &rc;
        r.writer = rc.writer == config_.node_id();
        r.writer_node = rc.writer;
        resources_.emplace(rc.name, std::move(r));
    }
    for (const auto &n : config_.nodes()) {
        if (n.id != config_.node_id()) {
            peers_.emplace(n.id, Peer{n, 0, Clock::now(), Millis{100}});
        }
    }
    setup_signals();
    setup_timer();
    // First the control socket: it refuses to start if another redd runs.
    control_ = std::make_unique<ControlServer>(
        config_.control_socket(), log_,
        [this](std::uint64_t client, const Json &request) { on_control(client, request); });
    add_fd(control_->fd(), kTokControl, EPOLLIN);
    listen_fd_ = listen_on(config_.listen());
    add_fd(listen_fd_.get(), kTokListen, EPOLLIN);
    kernel_ =
        std::make_unique<KernelChannel>(log_, [this](KernelMessage m) { on_kernel(std::move(m)); });
    add_fd(kernel_->fd(), kTokNetlink, EPOLLIN);
    std::uint64_t usec = 0;
    watchdog_ = sd_watchdog_enabled(0, &usec) > 0;
    log_.info("node ", config_.node_id(), " listening on ", to_string(config_.listen()), ", ",
              resources_.size(), " resource(s), ", peers_.size(), " peer(s)");
}

Daemon::~Daemon() = default;

void Daemon::add_fd(int fd, std::uint64_t token, std::uint32_t events) const {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
        throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
    }
}

void Daemon::setup_signals() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) {
        throw std::runtime_error(std::string("sigprocmask: ") + std::strerror(errno));
    }
    (void)std::signal(SIGPIPE, SIG_IGN);
    signal_fd_ = UniqueFd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signal_fd_.valid()) {
        throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
    }
    add_fd(signal_fd_.get(), kTokSignal, EPOLLIN);
}

void Daemon::setup_timer() {
    timer_fd_ = UniqueFd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer_fd_.valid()) {
        throw std::runtime_error(std::string("timerfd_create: ") + std::strerror(errno));
    }
    // Tick often enough for heartbeats, lease renewals and expiry checks.
    const auto tick = std::clamp(config_.heartbeat() / 4, Millis{10}, Millis{100});
    itimerspec its{};
    its.it_interval.tv_nsec = static_cast<long>(tick.count()) * 1000000L;
    its.it_value = its.it_interval;
    if (timerfd_settime(timer_fd_.get(), 0, &its, nullptr) < 0) {
        throw std::runtime_error(std::string("timerfd_settime: ") + std::strerror(errno));
    }
    add_fd(timer_fd_.get(), kTokTimer, EPOLLIN);
}

int Daemon::run() {
    start_kernel();
    std::array<epoll_event, 64> events{};
    while (!quit_) {
        const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log_.error("epoll_wait: ", std::strerror(errno));
            return 1;
        }
        for (int i = 0; i < n && !quit_; ++i) {
            const epoll_event &ev = events.at(static_cast<std::size_t>(i));
            switch (ev.data.u64) {
            case kTokNetlink:
                if (!kernel_->receive()) {
                    resync_kernel();
                }
                break;
            case kTokListen:
                on_accept();
                break;
            case kTokTimer: {
                std::uint64_t ticks = 0;
                (void)::read(timer_fd_.get(), &ticks, sizeof(ticks));
                on_tick();
                break;
            }
            case kTokSignal:
                on_signal();
                break;
            case kTokControl:
                control_->on_ready();
                break;
            default:
                on_link_event(ev.data.u64, ev.events);
                break;
            }
            reap_links();
        }
    }
    sd_notify(0, "STOPPING=1");
    for (const auto &[name, r] : resources_) {
        if (!r.stabs.empty() || !r.deferred.empty()) {
            log_.info(name, ": exiting with ", r.stabs.size() + r.deferred.size(),
                      " stabilization(s) outstanding; the kernel re-sends them to the next redd");
        }
    }
    log_stats("exit");
    log_.info("exiting");
    return exit_code_;
}

void Daemon::on_signal() {
    signalfd_siginfo si{};
    while (::read(signal_fd_.get(), &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            log_.info("signal ", si.ssi_signo, ": shutting down");
            quit_ = true;
            break;
        case SIGHUP:
            log_.info("SIGHUP: configuration reload is not supported; restart redd to apply "
                      "changes");
            break;
        case SIGUSR1:
            log_stats("SIGUSR1");
            break;
        default:
            break;
        }
    }
}

// ---- kernel ---------------------------------------------------------------

void Daemon::start_kernel() {
    // Subscribed already (KernelChannel); dump, then register, so the
    // re-sent requests find the state known (Documentation/netlink.rst).
    dumped_ = false;
    registered_ = false;
    kernel_->dump([this](int err, const std::string &extack) {
        if (err != 0) {
            log_.error("state dump failed: ", errno_name(err), " ", extack);
            exit_code_ = 1;
            quit_ = true;
            return;
        }
        dumped_ = true;
        for (auto &[name, r] : resources_) {
            if (!r.present) {
                log_.warn(name, ": no red device with this resource name in the kernel (yet)");
            }
        }
        kernel_->register_daemon([this](int rerr, const std::string &rextack) {
            if (rerr != 0) {
                log_.error("REGISTER refused: ", errno_name(rerr), " ", rextack,
                           rerr == -EPROTONOSUPPORT
                               ? " (the kernel does not speak protocol version 1)"
                               : "");
                exit_code_ = 1;
                quit_ = true;
                return;
            }
            registered_ = true;
            notify_ready();
        });
    });
}

void Daemon::resync_kernel() {
    log_.warn("netlink receive overrun: re-dumping and re-registering");
    kernel_->forget_pending();
    for (auto &[name, r] : resources_) {
        r.epoch_change = false; // its answer may be lost; retried by the tick
    }
    start_kernel();
}

void Daemon::notify_ready() {
    if (ready_) {
        return;
    }
    ready_ = true;
    log_.info("registered with the kernel and listening: ready");
    sd_notify(0, "READY=1\nSTATUS=registered, listening");
}

Daemon::Resource *Daemon::resource(const std::string &name) {
    auto it = resources_.find(name);
    return it == resources_.end() ? nullptr : &it->second;
}

void Daemon::on_kernel(KernelMessage msg) {
    if (auto *d = std::get_if<KDumped>(&msg)) {
        update_device(d->state, false, 0);
    } else if (auto *e = std::get_if<KEvent>(&msg)) {
        log_.debug("event ", event_name(e->event), " resource=", e->state.resource,
                   " seq=", e->state.seq);
        if (e->event == DM_RED_EV_DAEMON_GONE) {
            return;
        }
        const Resource *r = resource(e->state.resource);
        const std::uint64_t known = r != nullptr ? r->seq : 0;
        update_device(e->state, true, e->event);
        if (r != nullptr && (e->state.seq == 0 || e->state.seq > known)) {
            emit_kernel_event(*r, e->event);
        }
    } else if (auto *s = std::get_if<KStabilize>(&msg)) {
        Resource *r = resource(s->resource);
        if (r != nullptr && !r->writer && r->promotion && r->promotion->sent) {
            // The write-back started before PROMOTE's ack reached us.
            r->deferred.push_back(Deferred{std::move(*s), Clock::now()});
            return;
        }
        if (r == nullptr || !r->writer || !r->usable) {
            log_.warn("STABILIZE for resource '", s->resource,
                      "' that this node does not write: ignored");
            return;
        }
        writer_stabilize(*r, std::move(*s), Clock::now(), true);
    } else if (auto *p = std::get_if<KPreserveDone>(&msg)) {
        Resource *r = resource(p->resource);
        if (r == nullptr || r->writer) {
            log_.warn("PRESERVE_DONE for unknown copier resource '", p->resource, "'");
            return;
        }
        copier_preserve_done(*r, *p);
    } else if (auto *ed = std::get_if<KEpochDone>(&msg)) {
        Resource *r = resource(ed->resource);
        if (r == nullptr || !r->writer) {
            log_.warn("EPOCH_DONE for unknown writer resource '", ed->resource, "'");
            return;
        }
        writer_epoch_done(*r, *ed);
    } else if (auto *reg = std::get_if<KRegistered>(&msg)) {
        log_.info("registered: protocol version ", reg->version, ", features 0x", std::hex,
                  reg->features, std::dec);
        if (reg->version != DM_RED_PROTO_VERSION_MIN) {
            log_.error("the kernel chose protocol version ", reg->version, "; redd speaks 1");
            exit_code_ = 1;
            quit_ = true;
        }
    }
}

void Daemon::update_device(const KState &st, bool from_event, std::uint32_t event) {
    Resource *rp = resource(st.resource);
    if (rp == nullptr) {
        if (!st.resource.empty()) {
            log_.debug("device '", st.resource, "' is not in the configuration: ignored");
        }
        return;
    }
    Resource &r = *rp;
    if (st.seq != 0 && r.seq != 0 && st.seq < r.seq) {
        return; // older than what we know
    }
    if (from_event && st.seq != 0 && st.seq == r.seq) {
        return; // already reflected by the dump
    }
    if (st.seq != 0) {
        r.seq = st.seq;
    }
    const TimePoint now = Clock::now();
    if (from_event && event == DM_RED_EV_DESTROYED) {
        log_.info(r.config->name, ": device destroyed");
        if (r.fenced) {
            // The fenced writer's device is gone: the node may come back as
            // a copier (runbook, "the returning old writer").
            log_.info(r.config->name,
                      ": fenced writer device removed: up brings it back as a "
                      "copier of node ",
                      r.writer_node);
            r.fenced = false;
        }
        r.present = false;
        r.usable = false;
        r.stabs.clear();
        r.preserves.clear();
        r.deferred.clear();
        r.granted.clear();
        r.preserve_started.clear();
        r.local.reset();
        return;
    }
    const bool fresh = !r.present || (from_event && event == DM_RED_EV_CREATED);
    const std::uint32_t old_state = r.present ? r.state : 0;
    r.present = true;
    if (st.has_role) {
        r.role = st.role;
    }
    if (st.has_state) {
        r.state = st.state;
    }
    if (from_event && event == DM_RED_EV_STORE_FULL && !st.has_state) {
        r.state = DM_RED_STATE_FAILED;
    }
    if (st.has_epoch && st.epoch > r.epoch) {
        r.epoch = st.epoch;
    }
    if (st.store_total != 0) {
        r.store_total = st.store_total;
    }
    r.store_used = st.store_used;
    if (from_event && event == DM_RED_EV_PROMOTED && r.promotion) {
        log_.info(r.config->name, ": promotion complete: a plain writer at epoch ", r.epoch);
        r.promotion.reset();
    }
    if (!st.dm_name.empty()) {
        r.dm_name = st.dm_name;
    }
    if (st.chunk_sectors != 0) {
        r.chunk_sectors = st.chunk_sectors;
    }
    if (st.nr_chunks != 0) {
        r.nr_chunks = st.nr_chunks;
    }
    if (r.fenced) {
        r.usable = false;
        return;
    }
    r.writer = writes(r);
    const std::uint32_t want = r.writer ? DM_RED_ROLE_WRITER : DM_RED_ROLE_COPIER;
    // From PROMOTE until the kernel's flip is seen, either role is right.
    const bool flipping = r.promotion && r.promotion->sent;
    if (r.role != want && !flipping) {
        if (r.usable || fresh) {
            log_.error(r.config->name, ": kernel device is a ", role_name(r.role),
                       " but the LUN's epoch record (or the configuration) makes this node its ",
                       r.writer ? "writer" : "copier", ": ignored");
        }
        r.usable = false;
        return;
    }
    if (st.chunk_sectors != 0 && st.chunk_sectors != r.config->chunk_sectors) {
        if (r.usable || fresh) {
            log_.error(r.config->name, ": kernel device has ", st.chunk_sectors,
                       " sectors per chunk, the configuration ", r.config->chunk_sectors,
                       ": ignored");
        }
        r.usable = false;
        return;
    }
    r.usable = true;
    if (fresh) {
        log_.info(r.config->name, ": device ", st.dm_name, " ", role_name(r.role), " state ",
                  state_name(r.state), " epoch ", r.epoch);
    } else if (old_state != r.state) {
        log_.info(r.config->name, ": state ", state_name(old_state), " -> ", state_name(r.state),
                  " epoch ", r.epoch);
    }
    if (r.writer && r.promotion && r.promotion->accepted) {
        if (r.role == DM_RED_ROLE_WRITER && !r.write_lease) {
            // The kernel flipped to writer: the write-back needs the lease.
            r.write_lease.emplace(config_.lease(), config_.lease() / 3);
        }
        return;
    }
    if (r.writer) {
        if (fresh && (from_event || !r.members)) {
            r.members.emplace(r.config->name, timing_, r.epoch);
            r.write_lease.emplace(config_.lease(), config_.lease() / 3);
            r.stabs.clear();
            r.preserves.clear();
            r.joiners.clear();
            r.failed.clear();
            r.granted.clear();
            r.leave_epoch = false;
            r.epoch_change = false;
            // Restarted with an epoch: copiers may hold leases we do not
            // know of.  Wait until they have reconnected or certainly expired.
            if (!from_event && r.epoch > 0) {
                r.grace_until = now + config_.lease() + config_.lease_margin();
                log_.info(r.config->name, ": writer at epoch ", r.epoch,
                          " after a restart: waiting up to ",
                          (config_.lease() + config_.lease_margin()).count(),
                          " ms for copiers to reconnect");
            }
        }
        return;
    }
    // Copier.
    if (fresh || !r.local) {
        r.local.emplace(r.config->name, config_.node_id(), timing_,
                        r.config->lease_policy == LeasePolicy::Suspend);
        r.expelled = false;
        r.resuming = false;
        if (!from_event && (r.state == DM_RED_STATE_ACTIVE || r.state == kStateHeld)) {
            // redd restarted under an active copier: resume membership; the
            // first lease grant from the writer confirms it.
            const std::uint64_t id = next_request();
            r.local->start_join(id, now);
            r.local->on_join_ack(id, r.epoch, Millis{0}, now);
            r.resuming = true;
            r.resume_deadline = now + config_.lease();
            r.writer_epoch = std::max(r.writer_epoch, r.epoch);
            log_.info(r.config->name, ": copier active at epoch ", r.epoch,
                      " after a restart: resuming membership");
        }
    }
    if (r.state == DM_RED_STATE_JOINING) {
        r.expelled = false; // gc'd: it joins afresh
    }
    if (r.state == DM_RED_STATE_JOINING && r.local->state() == LocalState::Member) {
        log_.info(r.config->name, ": device is joining again (gc): rejoining");
        r.local->leave(now);
    }
    if (r.down && r.state == DM_RED_STATE_FAILED) {
        log_.debug(r.config->name, ": device failed after down (read lease ended)");
    } else if (r.state == DM_RED_STATE_FAILED && r.local->state() != LocalState::Failed) {
        log_.error(r.config->name, ": copier device failed (store full or I/O error); "
                                   "restart or gc it to rejoin");
        r.local->leave(now);
    }
}

// ---- writer ---------------------------------------------------------------

bool Daemon::stab_blocked(const Resource &r, std::uint64_t epoch, TimePoint now) const {
    if (!dumped_ || !registered_) {
        return true;
    }
    if (r.grace_until && now < *r.grace_until) {
        return true;
    }
    return r.epoch_change && epoch > r.epoch_base;
}

void Daemon::writer_stabilize(Resource &r, KStabilize s, TimePoint received, bool fresh) {
    const TimePoint now = Clock::now();
    if (s.epoch < r.epoch) {
        log_.debug(r.config->name, ": STABILIZE req ", s.request_id, " of old epoch ", s.epoch,
                   " dropped");
        return;
    }
    if (r.stabs.contains(s.request_id)) {
        return; // re-sent after REGISTER: already in progress
    }
    const bool queued = std::any_of(r.deferred.begin(), r.deferred.end(), [&](const Deferred &d) {
        return d.request.request_id == s.request_id;
    });
    if (fresh && !queued) {
        ++r.stats.stabilize;
        r.stats.ranges += s.ranges.size();
        for (const ChunkRange &range : s.ranges) {
            r.stats.chunks += range.count;
        }
    }
    if (stab_blocked(r, s.epoch, now) || !r.deferred.empty()) {
        if (!queued) {
            log_.debug(r.config->name, ": STABILIZE req ", s.request_id, " deferred");
            r.deferred.push_back(Deferred{std::move(s), received});
        }
        return;
    }
    Stab stab;
    stab.epoch = s.epoch;
    stab.kernel_request = s.request_id;
    stab.received = received;
    stab.ranges = std::move(s.ranges);
    for (std::uint32_t node : r.members->members()) {
        if (r.failed.contains(node) || !r.members->must_wait_for(node)) {
            continue;
        }
        const std::uint64_t id = next_request();
        stab.waiting[node] = id;
        r.preserves[id] = stab.kernel_request;
        ++r.stats.preserves;
        send_frame(node, make_frame(r.config->name, stab.epoch, id, Preserve{stab.ranges}));
    }
    log_.debug(r.config->name, ": STABILIZE epoch ", stab.epoch, " req ", stab.kernel_request,
               " ranges ", ranges_text(stab.ranges), " -> ", stab.waiting.size(), " preserve(s)");
    const std::uint64_t key = stab.kernel_request;
    r.stabs.emplace(key, std::move(stab));
    finish_if_done(r, key);
}

void Daemon::flush_deferred(Resource &r, TimePoint now) {
    // writer_stabilize() defers a request while others are queued (to keep
    // the kernel's order): hand it the ready ones with the queue set aside,
    // or it would put each back at the end of the queue, forever.
    std::deque<Deferred> rest;
    std::swap(rest, r.deferred);
    while (!rest.empty() && !stab_blocked(r, rest.front().request.epoch, now)) {
        Deferred d = std::move(rest.front());
        rest.pop_front();
        writer_stabilize(r, std::move(d.request), d.received, false);
    }
    r.deferred.insert(r.deferred.end(), std::make_move_iterator(rest.begin()),
                      std::make_move_iterator(rest.end()));
}

void Daemon::finish_if_done(Resource &r, std::uint64_t kernel_request) {
    auto it = r.stabs.find(kernel_request);
    if (it == r.stabs.end() || !it->second.waiting.empty()) {
        return;
    }
    const std::string name = r.config->name;
    const std::uint64_t epoch = it->second.epoch;
    r.stats.rtt_us.add(micros(it->second.received, Clock::now()));
    r.stabs.erase(it);
    kernel_->stabilize_ack(name, epoch, kernel_request, 0,
                           [this, name, kernel_request](int err, const std::string &extack) {
                               if (err != 0 && err != -ENOENT && err != -ESTALE) {
                                   log_.error(name, ": STABILIZE_ACK req ", kernel_request,
                                              " refused: ", errno_name(err), " ", extack);
                               }
                           });
}

void Daemon::stop_waiting_for(Resource &r, std::uint32_t node, const char *why) {
    std::vector<std::uint64_t> touched;
    for (auto &[key, stab] : r.stabs) {
        auto w = stab.waiting.find(node);
        if (w != stab.waiting.end()) {
            r.preserves.erase(w->second);
            stab.waiting.erase(w);
            touched.push_back(key);
        }
    }
    if (!touched.empty()) {
        log_.info(r.config->name, ": no longer waiting for node ", node, " (", why, ") in ",
                  touched.size(), " stabilization(s)");
    }
    for (std::uint64_t key : touched) {
        finish_if_done(r, key);
    }
}

void Daemon::writer_epoch_done(Resource &r, const KEpochDone &done) {
    const TimePoint now = Clock::now();
    if (done.epoch > r.epoch) {
        r.epoch = done.epoch;
    }
    if (!r.epoch_change || done.request_id != r.epoch_request) {
        log_.debug(r.config->name, ": EPOCH_DONE req ", done.request_id, " epoch ", done.epoch,
                   ": not ours, ignored");
        return;
    }
    r.epoch_change = false;
    log_.info(r.config->name, ": epoch ", done.epoch, " (drained)");
    // Stabilizations of older epochs were dropped by the kernel.
    for (auto it = r.stabs.begin(); it != r.stabs.end();) {
        if (it->second.epoch < done.epoch) {
            for (const auto &[node, id] : it->second.waiting) {
                r.preserves.erase(id);
            }
            it = r.stabs.erase(it);
        } else {
            ++it;
        }
    }
    // A copier that asked to join while the kernel drained joins at this
    // epoch too: the record must name it before its JOIN_ACK (rule 1), or
    // it would find itself missing there and fail its device.
    std::vector<std::uint32_t> all = r.members->members();
    all.insert(all.end(), r.joiners.begin(), r.joiners.end());
    const bool late = r.record && std::any_of(r.joiners.begin(), r.joiners.end(), [&](auto n) {
                          return std::find(r.record->members.begin(), r.record->members.end(), n) ==
                                 r.record->members.end();
                      });
    if (late && !write_record(r, done.epoch, all, false)) {
        log_.error(r.config->name, ": the record of epoch ", done.epoch,
                   " lacks a late joiner; it will fail and must be gc'd");
    }
    for (const JoinGrant &g : r.members->complete_epoch(done.epoch, now)) {
        r.joiners.erase(g.node);
        r.granted[g.node] = now;
        send_frame(g.node, make_frame(r.config->name, done.epoch, g.request_id,
                                      JoinAck{static_cast<std::uint32_t>(g.lease.count())}));
    }
    r.joiners.clear();
    log_membership(r);
    flush_deferred(r, now);
}

void Daemon::log_membership(Resource &r) {
    for (const auto &e : r.members->take_events()) {
        if (e.node == 0) {
            log_.debug(r.config->name, ": ", to_string(e.kind), ": ", e.detail);
            continue;
        }
        emit_member_event(r, e);
        log_.info(r.config->name, ": node ", e.node, " ", to_string(e.kind), " at epoch ", e.epoch,
                  e.detail.empty() ? "" : ": ", e.detail);
    }
}

void Daemon::writer_tick(Resource &r, TimePoint now) {
    if (!r.usable || !r.members) {
        return;
    }
    if (r.write_lease && r.write_lease->due(now)) {
        // Renewed only while the LUN's epoch record names this node
        // (daemon_lun.cpp, rule 2): a newer writer's record fences us.
        const bool named = read_record(r) && (!r.record || r.record->writer == config_.node_id());
        if (!named && r.record) {
            follow_record(r, now);
        }
        if (!r.write_lease) {
            return; // fenced
        }
        if (!named) {
            log_.warn(r.config->name, ": write lease not renewed: the LUN's epoch record "
                                      "cannot be read");
        }
        // Not renewed (0): nothing is sent, the kernel's lease runs out by
        // itself.  LEASE 0 would fence the writer for good (dm-red.rst,
        // Leases), and a record unreadable for a while names no newer writer.
        if (const Millis ms = r.write_lease->renew(now, registered_ && named); ms.count() > 0) {
            const std::string name = r.config->name;
            kernel_->lease(name, static_cast<std::uint32_t>(ms.count()),
                           [this, name](int err, const std::string &extack) {
                               if (err != 0) {
                                   log_.error(name, ": LEASE refused: ", errno_name(err), " ",
                                              extack);
                               }
                           });
        }
    }
    for (std::uint32_t node : r.members->tick(now)) {
        r.unrecorded.insert(node);
    }
    if (!r.unrecorded.empty()) {
        // Rule 1: the record drops the copiers before we stop waiting for
        // them (until it is written, their preserves are still awaited).
        std::vector<std::uint32_t> keep = r.members->members();
        keep.insert(keep.end(), r.joiners.begin(), r.joiners.end());
        if (write_record(r, r.epoch, keep, false)) {
            for (std::uint32_t node : r.unrecorded) {
                stop_waiting_for(r, node, "read lease certainly expired: expelled");
            }
            r.unrecorded.clear();
        }
    }
    log_membership(r);
    if (r.grace_until && now >= *r.grace_until) {
        r.grace_until.reset();
        log_.info(r.config->name, ": restart grace over; members: ", r.members->members().size());
    }
    if (r.epoch_change && now - r.epoch_started > kJoinTimeout) {
        log_.warn(r.config->name, ": NEW_EPOCH req ", r.epoch_request, " timed out; retrying");
        r.epoch_change = false;
    }
    std::vector<std::uint32_t> next_members;
    if (r.epoch != 0) {
        next_members = r.members->members();
        next_members.insert(next_members.end(), r.joiners.begin(), r.joiners.end());
    }
    if (!r.epoch_change && registered_ && (r.epoch == 0 || !r.joiners.empty() || r.leave_epoch) &&
        write_record(r, r.epoch + 1, next_members, false)) {
        const auto members = static_cast<std::uint32_t>(next_members.size());
        r.epoch_change = true;
        r.epoch_request = next_request();
        r.epoch_base = r.epoch;
        r.epoch_started = now;
        const bool for_leave = r.leave_epoch;
        r.leave_epoch = false;
        const std::string name = r.config->name;
        const std::uint64_t id = r.epoch_request;
        log_.info(name, ": NEW_EPOCH members=", members, " req ", id);
        kernel_->new_epoch(
            name, id, members, [this, name, id, for_leave](int err, const std::string &ext) {
                Resource *res = resource(name);
                if (err != 0 && res != nullptr && res->epoch_change && res->epoch_request == id) {
                    log_.warn(name, ": NEW_EPOCH refused: ", errno_name(err), " ", ext);
                    res->epoch_change = false;
                    res->leave_epoch = res->leave_epoch || for_leave;
                }
            });
    }
    flush_deferred(r, now);
}

void Daemon::writer_frame(Resource &r, std::uint32_t node, const Frame &frame) {
    const TimePoint now = Clock::now();
    if (const auto *jr = std::get_if<JoinReq>(&frame.payload)) {
        if (r.down) {
            log_.info(r.config->name, ": node ", node,
                      " asks to join: refused, the resource is down here (redctl up)");
            send_frame(node, make_frame(r.config->name, r.epoch, frame.request_id,
                                        ErrorMsg{kErrDown, "the resource is down on the writer"}));
            return;
        }
        log_.info(r.config->name, ": node ", node, " asks to join (store ", jr->store_chunks,
                  " chunks)");
        stop_waiting_for(r, node, "rejoining");
        r.failed.erase(node);
        r.members->request_join(node, frame.request_id, now);
        r.joiners.insert(node);
        log_membership(r);
    } else if (const auto *pd = std::get_if<PreserveDone>(&frame.payload)) {
        auto p = r.preserves.find(frame.request_id);
        if (p == r.preserves.end()) {
            log_.debug(r.config->name, ": PRESERVE_DONE ", frame.request_id, " from node ", node,
                       ": unknown, ignored");
            return;
        }
        auto s = r.stabs.find(p->second);
        if (s == r.stabs.end() || !s->second.waiting.contains(node) ||
            s->second.waiting.at(node) != frame.request_id) {
            return;
        }
        s->second.waiting.erase(node);
        const std::uint64_t key = p->second;
        r.preserves.erase(p);
        if (pd->error != 0) {
            ++r.stats.preserve_errors;
        }
        if (pd->error != 0 && pd->error != -ESTALE) {
            log_.error(r.config->name, ": node ", node,
                       " failed a preserve: ", errno_name(pd->error),
                       ": expelled (no more preserves)");
            emit(r.config->name, "member-failed",
                 Json{{"node", node},
                      {"epoch", r.epoch},
                      {"reason", "preserve failed: " + errno_name(pd->error)}});
            r.failed.insert(node);
            stop_waiting_for(r, node, "preserve failed");
        }
        finish_if_done(r, key);
    } else if (const auto *hb = std::get_if<Heartbeat>(&frame.payload)) {
        (void)hb;
        auto grant = r.members->on_heartbeat(node, now);
        const bool recorded =
            !r.record || std::find(r.record->members.begin(), r.record->members.end(), node) !=
                             r.record->members.end();
        if (!grant && r.grace_until && now < *r.grace_until && !r.members->state(node) &&
            !r.epoch_change && r.joiners.empty() && recorded) {
            // After our restart: a copier that was a member resumes.
            r.members->request_join(node, frame.request_id, now);
            r.members->complete_epoch(r.epoch, now);
            log_.info(r.config->name, ": node ", node, " resumed membership at epoch ", r.epoch);
            grant = r.members->on_heartbeat(node, now);
        }
        log_membership(r);
        if (grant) {
            r.granted[node] = now;
            send_frame(node, make_frame(r.config->name, r.epoch, frame.request_id,
                                        Heartbeat{static_cast<std::uint32_t>(grant->count())}));
        } else if (r.members->state(node) != CopierState::Joining) {
            send_frame(node, make_frame(r.config->name, r.epoch, frame.request_id,
                                        ErrorMsg{kErrNotMember, "not a member: rejoin (gc)"}));
        }
    } else if (std::holds_alternative<Leave>(frame.payload)) {
        // An orderly leave: the copier has ended its read lease in its
        // kernel first, so nothing more is owed to it.  A new epoch makes
        // anything it still sends stale (and with no copier left, every
        // chunk stable again).
        const auto was = r.members->state(node);
        log_.info(r.config->name, ": node ", node, " leaves");
        r.members->on_leave(node, now);
        r.joiners.erase(node);
        r.failed.erase(node);
        r.granted.erase(node);
        stop_waiting_for(r, node, "left");
        if (was == CopierState::Member) {
            r.leave_epoch = true;
        }
        log_membership(r);
    } else {
        log_.warn(r.config->name, ": unexpected ", to_string(frame.type()), " from node ", node);
    }
}

// ---- copier ---------------------------------------------------------------

void Daemon::copier_tick(Resource &r, TimePoint now) {
    if (!r.usable || !r.local || !registered_) {
        return;
    }
    const std::uint32_t writer = r.writer_node;
    if (writer == 0 || writer == config_.node_id()) {
        return; // no writer (it resigned), or our promotion is under way
    }
    const bool connected = peer_link(writer) != nullptr;
    CopierMembership &m = *r.local;
    // Ask to join when the device is joining and no join is under way (a
    // Member here has its JOIN_ACK on the way to the kernel).
    const bool join_idle = m.state() != LocalState::Joining && m.state() != LocalState::Member;
    const bool join_stuck = m.state() == LocalState::Joining && now - r.join_sent > kJoinTimeout;
    if (!r.down && r.state == DM_RED_STATE_JOINING && connected && (join_idle || join_stuck)) {
        const std::uint64_t id = next_request();
        m.start_join(id, now);
        r.join_sent = now;
        log_.info(r.config->name, ": asking node ", writer, " to join");
        send_frame(writer, make_frame(r.config->name, r.writer_epoch, id, JoinReq{r.store_total}));
    }
    if (!r.down && connected && m.heartbeat_due(now)) {
        const std::uint64_t id = next_request();
        const Millis ask = m.send_heartbeat(id, now);
        send_frame(writer, make_frame(r.config->name, std::max(r.writer_epoch, m.epoch()), id,
                                      Heartbeat{static_cast<std::uint32_t>(ask.count())}));
    }
    if (r.resuming && !connected) {
        // The grant can only come once the writer is reachable again; if
        // it has expelled us meanwhile, it answers "not a member".
        r.resume_deadline = now + config_.lease();
    }
    if (r.resuming && now >= r.resume_deadline) {
        r.resuming = false;
    }
    if (!r.resuming && m.tick(now)) {
        if (r.config->lease_policy == LeasePolicy::Suspend) {
            log_.warn(r.config->name, ": read lease expired: the copier device holds its I/O "
                                      "until the writer (or a promoted one) renews it");
        } else {
            log_.error(r.config->name, ": read lease expired: the kernel fails the copier "
                                       "device; stop the DBMS, then gc the device to rejoin");
        }
    }
    for (const auto &e : m.take_events()) {
        log_.info(r.config->name, ": ", to_string(e.kind), " at epoch ", e.epoch,
                  e.detail.empty() ? "" : ": ", e.detail);
        emit_member_event(r, e);
    }
}

void Daemon::push_read_lease(Resource &r, TimePoint now) {
    const auto expiry = r.local->lease().expiry();
    if (!expiry || *expiry <= now) {
        return;
    }
    const auto left = std::chrono::duration_cast<Millis>(*expiry - now);
    const std::string name = r.config->name;
    kernel_->lease(name, static_cast<std::uint32_t>(left.count()),
                   [this, name](int err, const std::string &extack) {
                       if (err != 0) {
                           log_.error(name, ": kernel refused the read LEASE: ", errno_name(err),
                                      " ", extack);
                       }
                   });
}

void Daemon::copier_frame(Resource &r, std::uint32_t node, const Frame &frame) {
    const TimePoint now = Clock::now();
    if (node != r.writer_node && read_record(r)) {
        follow_record(r, now); // a new writer's first frames may beat our next LUN read
    }
    if (node != r.writer_node) {
        log_.warn(r.config->name, ": ", to_string(frame.type()), " from node ", node,
                  " which is not the writer: ignored");
        return;
    }
    r.writer_epoch = std::max(r.writer_epoch, frame.epoch);
    if (!r.local) {
        return;
    }
    if (const auto *ja = std::get_if<JoinAck>(&frame.payload)) {
        if (!r.local->on_join_ack(frame.request_id, frame.epoch, Millis{ja->lease_ms}, now)) {
            log_.debug(r.config->name, ": stale JOIN_ACK ignored");
            return;
        }
        push_read_lease(r, now);
        const std::string name = r.config->name;
        const std::uint64_t epoch = frame.epoch;
        kernel_->join_ack(name, epoch, [this, name, epoch](int err, const std::string &extack) {
            if (err != 0) {
                log_.error(name, ": kernel refused JOIN_ACK at epoch ", epoch, ": ",
                           errno_name(err), " ", extack);
                if (Resource *res = resource(name); res != nullptr && res->local) {
                    res->local->leave(Clock::now());
                }
                return;
            }
            log_.info(name, ": joined at epoch ", epoch);
        });
    } else if (const auto *pr = std::get_if<Preserve>(&frame.payload)) {
        const std::string name = r.config->name;
        const std::uint64_t id = frame.request_id;
        if (r.preserve_started.try_emplace(id, now).second) {
            ++r.stats.preserves;
            r.stats.ranges += pr->ranges.size();
            for (const ChunkRange &range : pr->ranges) {
                r.stats.chunks += range.count;
            }
        }
        if (!r.usable) {
            ++r.stats.preserve_errors;
            r.preserve_started.erase(id);
            send_frame(node, make_frame(name, frame.epoch, id, PreserveDone{-ENODEV}));
            return;
        }
        kernel_->preserve(name, frame.epoch, id, pr->ranges,
                          [this, name, id, node](int err, const std::string &extack) {
                              if (err == 0) {
                                  return;
                              }
                              log_.warn(name, ": kernel refused PRESERVE ", id, ": ",
                                        errno_name(err), " ", extack);
                              Resource *res = resource(name);
                              if (res != nullptr) {
                                  ++res->stats.preserve_errors;
                                  res->preserve_started.erase(id);
                              }
                              send_frame(node, make_frame(name, res ? res->writer_epoch : 0, id,
                                                          PreserveDone{err}));
                          });
    } else if (const auto *hb = std::get_if<Heartbeat>(&frame.payload)) {
        if (r.local->on_grant(frame.request_id, frame.epoch, Millis{hb->lease_ms}, now)) {
            push_read_lease(r, now);
            if (r.resuming) {
                log_.info(r.config->name, ": membership resumed at epoch ", frame.epoch);
            }
            r.resuming = false;
        }
    } else if (const auto *em = std::get_if<ErrorMsg>(&frame.payload)) {
        log_.error(r.config->name, ": writer node ", node, " says: ", em->text);
        if (r.state == DM_RED_STATE_ACTIVE && em->code == kErrNotMember) {
            r.resuming = false;
        }
        if (em->code == kErrNotMember && !r.expelled && r.local &&
            (r.state == kStateHeld || r.local->lapsed())) {
            // Our lease ran out and the writer no longer counts us: it may
            // write without our preserves.  The held device must fail.
            r.expelled = true;
            r.local->leave(now);
            log_.error(r.config->name, ": expelled by writer node ", node,
                       ": the device fails from now on; stop the DBMS and gc it");
            emit(r.config->name, "expelled", Json{{"writer", node}, {"epoch", frame.epoch}});
            const std::string name = r.config->name;
            kernel_->lease(name, 0, [this, name](int err, const std::string &extack) {
                if (err != 0) {
                    log_.error(name, ": LEASE 0 (expelled) refused: ", errno_name(err), " ",
                               extack);
                }
            });
        }
    } else {
        log_.warn(r.config->name, ": unexpected ", to_string(frame.type()), " from node ", node);
    }
}

void Daemon::copier_preserve_done(Resource &r, const KPreserveDone &done) {
    if (done.error != 0) {
        ++r.stats.preserve_errors;
        log_.warn(r.config->name, ": PRESERVE ", done.request_id,
                  " failed: ", errno_name(done.error));
    }
    if (auto it = r.preserve_started.find(done.request_id); it != r.preserve_started.end()) {
        r.stats.rtt_us.add(micros(it->second, Clock::now()));
        r.preserve_started.erase(it);
    }
    // Not connected: dropped; the writer re-sends its PRESERVE on reconnect.
    send_frame(r.writer_node, make_frame(r.config->name, r.writer_epoch, done.request_id,
                                         PreserveDone{done.error}));
}

// ---- peers ----------------------------------------------------------------

void Daemon::on_tick() {
    const TimePoint now = Clock::now();
    dial_peers(now);
    for (auto &[name, r] : resources_) {
        disk_tick(r, now);
        promote_tick(r, now);
        if (r.writer) {
            writer_tick(r, now);
        } else {
            copier_tick(r, now);
        }
    }
    control_->tick();
    if (watchdog_) {
        sd_notify(0, "WATCHDOG=1");
    }
}

std::uint64_t Daemon::new_link(UniqueFd fd, bool initiator, bool connecting,
                               std::optional<std::uint32_t> peer) {
    HandshakeParams params;
    params.own_id = config_.node_id();
    params.key = config_.key();
    if (initiator) {
        params.expected_peer = peer;
    } else {
        for (const auto &[id, p] : peers_) {
            if (id < config_.node_id()) {
                params.allowed_peers.push_back(id);
            }
        }
    }
    const Nonce nonce = random_nonce();
    Handshake hs = initiator ? Handshake::initiator(params, nonce)
                             : Handshake::responder(params, nonce, replay_);
    auto floor = std::make_shared<std::map<std::string, std::uint64_t>>();
    auto epoch_of = [this, floor](std::string_view res) -> std::optional<std::uint64_t> {
        if (!resources_.contains(std::string(res))) {
            return std::nullopt;
        }
        auto it = floor->find(std::string(res));
        return it == floor->end() ? 0 : it->second;
    };
    auto session = std::make_unique<PeerSession>(std::move(hs), epoch_of);
    const std::uint64_t token = next_token_++;
    const int raw = fd.get();
    Link link;
    link.conn =
        std::make_unique<Conn>(std::move(fd), initiator, connecting, std::move(session), peer);
    link.floor = floor;
    link.want_out = connecting;
    links_.emplace(token, std::move(link));
    add_fd(raw, token, EPOLLIN | (connecting ? EPOLLOUT : 0U));
    return token;
}

void Daemon::dial_peers(TimePoint now) {
    for (auto &[id, p] : peers_) {
        if (id < config_.node_id() || p.link != 0 || now < p.next_dial) {
            continue;
        }
        std::string error;
        UniqueFd fd = dial(p.config.address, error);
        if (!fd.valid()) {
            log_.warn("cannot connect to node ", id, " at ", to_string(p.config.address), ": ",
                      error);
            p.next_dial = now + p.backoff;
            p.backoff = std::min(p.backoff * 2, kMaxBackoff);
            continue;
        }
        log_.debug("connecting to node ", id, " at ", to_string(p.config.address));
        p.link = new_link(std::move(fd), true, true, id);
    }
}

void Daemon::on_accept() {
    for (;;) {
        const int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                log_.warn("accept: ", std::strerror(errno));
            }
            return;
        }
        log_.debug("accepted a connection");
        new_link(UniqueFd(fd), false, false, std::nullopt);
    }
}

void Daemon::update_interest(std::uint64_t token) {
    auto it = links_.find(token);
    if (it == links_.end() || doomed_.contains(token)) {
        return;
    }
    const bool want = it->second.conn->wants_write();
    if (want == it->second.want_out) {
        return;
    }
    it->second.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0U);
    ev.data.u64 = token;
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, it->second.conn->fd(), &ev);
}

void Daemon::on_link_event(std::uint64_t token, std::uint32_t events) {
    auto it = links_.find(token);
    if (it == links_.end() || doomed_.contains(token)) {
        return;
    }
    Conn &c = *it->second.conn;
    std::string error;
    if (c.connecting()) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0U) {
            return;
        }
        if (!c.finish_connect(error)) {
            close_link(token, "connect failed: " + error);
            return;
        }
        log_.debug("connected to node ", c.peer().value_or(0), ": handshake");
        SessionOutput out = c.session().start();
        handle_output(token, out);
        return;
    }
    if ((events & EPOLLOUT) != 0U && !c.flush(error)) {
        close_link(token, "write: " + error);
        return;
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0U) {
        SessionOutput out;
        bool eof = false;
        if (!c.read(out, eof, error)) {
            close_link(token, "read: " + error);
            return;
        }
        handle_output(token, out);
        if (eof && !doomed_.contains(token)) {
            close_link(token, "connection closed by the peer");
            return;
        }
    }
    update_interest(token);
}

void Daemon::handle_output(std::uint64_t token, SessionOutput &out) {
    auto it = links_.find(token);
    if (it == links_.end()) {
        return;
    }
    Link &link = it->second;
    std::string error;
    for (const Bytes &b : out.send) {
        if (!link.conn->queue(b, error)) {
            close_link(token, "write: " + error);
            return;
        }
    }
    if (!link.was_authenticated && link.conn->authenticated()) {
        link.was_authenticated = true;
        const std::uint32_t node = link.conn->session().handshake().peer_id();
        link.conn->set_peer(node);
        auto p = peers_.find(node);
        if (p == peers_.end()) {
            emit("", "peer-rejected",
                 Json{{"node", node}, {"reason", "authenticated as an unknown node"}});
            close_link(token, "authenticated as unknown node " + std::to_string(node));
            return;
        }
        if (p->second.link != 0 && p->second.link != token) {
            close_link(p->second.link, "replaced by a newer connection");
        }
        p->second.link = token;
        p->second.backoff = Millis{100};
        log_.info("node ", node, " connected and authenticated");
        emit("", "peer-connected",
             Json{{"node", node}, {"address", to_string(p->second.config.address)}});
        on_peer_up(node);
    }
    if (link.was_authenticated) {
        const std::uint32_t node = *link.conn->peer();
        for (const Frame &f : out.deliver) {
            if (doomed_.contains(token)) {
                break;
            }
            if (!f.resource.empty()) {
                auto &fl = (*link.floor)[f.resource];
                fl = std::max(fl, f.epoch);
            }
            on_frame(node, f);
        }
    }
    if (out.closed && !doomed_.contains(token)) {
        // The session refused the peer: failed handshake, malformed frame,
        // stale epoch, unknown resource...
        Json fields{{"reason", *out.closed}};
        if (link.conn->peer()) {
            fields["node"] = *link.conn->peer();
        }
        emit("", "peer-rejected", fields);
        close_link(token, *out.closed);
        return;
    }
    update_interest(token);
}

void Daemon::on_frame(std::uint32_t node, const Frame &frame) {
    log_.debug("node ", node, ": ", to_string(frame.type()), " ", frame.resource, " epoch ",
               frame.epoch, " req ", frame.request_id);
    if (frame.resource.empty()) {
        if (const auto *em = std::get_if<ErrorMsg>(&frame.payload)) {
            log_.warn("node ", node, " reports error ", em->code, ": ", em->text);
        }
        return;
    }
    Resource *r = resource(frame.resource);
    if (r == nullptr) {
        return;
    }
    if (r->writer) {
        if (!r->usable || !r->members) {
            log_.warn(frame.resource, ": ", to_string(frame.type()), " from node ", node,
                      " before the writer device is known: ignored");
            return;
        }
        writer_frame(*r, node, frame);
    } else {
        copier_frame(*r, node, frame);
    }
}

Daemon::Link *Daemon::peer_link(std::uint32_t node) {
    auto p = peers_.find(node);
    if (p == peers_.end() || p->second.link == 0 || doomed_.contains(p->second.link)) {
        return nullptr;
    }
    auto it = links_.find(p->second.link);
    if (it == links_.end() || !it->second.conn->authenticated()) {
        return nullptr;
    }
    return &it->second;
}

bool Daemon::send_frame(std::uint32_t node, Frame frame) {
    Link *link = peer_link(node);
    if (link == nullptr) {
        return false;
    }
    // Never send a peer an epoch older than one it has had from us.
    auto &sent = link->sent[frame.resource];
    frame.epoch = std::max(frame.epoch, sent);
    sent = frame.epoch;
    std::string error;
    const std::uint64_t token = peers_.at(node).link;
    if (!link->conn->queue(link->conn->session().encode(std::move(frame)), error)) {
        close_link(token, "write: " + error);
        return false;
    }
    update_interest(token);
    return true;
}

void Daemon::on_peer_up(std::uint32_t node) {
    // Re-send the preserves this copier still owes us.
    for (auto &[name, r] : resources_) {
        if (!r.writer) {
            continue;
        }
        for (const auto &[key, stab] : r.stabs) {
            auto w = stab.waiting.find(node);
            if (w != stab.waiting.end()) {
                send_frame(node, make_frame(name, stab.epoch, w->second, Preserve{stab.ranges}));
            }
        }
    }
}

void Daemon::on_peer_down(std::uint32_t node) {
    const TimePoint now = Clock::now();
    for (auto &[name, r] : resources_) {
        if (r.writer && r.members) {
            // A member keeps its lease until it certainly expires (tick);
            // a joiner leaves at once.
            if (r.members->state(node) == CopierState::Joining) {
                r.members->revoke(node, now, "disconnected while joining");
                r.joiners.erase(node);
                log_membership(r);
            }
        } else if (!r.writer && r.writer_node == node && r.local &&
                   r.local->state() == LocalState::Joining) {
            r.join_sent = TimePoint{}; // ask again once reconnected
        }
    }
}

void Daemon::close_link(std::uint64_t token, const std::string &why) {
    auto it = links_.find(token);
    if (it == links_.end() || doomed_.contains(token)) {
        return;
    }
    doomed_.insert(token);
    const auto peer = it->second.conn->peer();
    if (peer) {
        auto p = peers_.find(*peer);
        if (p != peers_.end() && p->second.link == token) {
            p->second.link = 0;
            p->second.next_dial = Clock::now() + p->second.backoff;
            p->second.backoff = std::min(p->second.backoff * 2, kMaxBackoff);
            if (it->second.was_authenticated) {
                log_.warn("node ", *peer, ": disconnected: ", why);
                emit("", "peer-disconnected", Json{{"node", *peer}, {"reason", why}});
                on_peer_down(*peer);
                return;
            }
        }
        log_.warn("node ", *peer, ": connection dropped: ", why);
    } else {
        log_.warn("incoming connection dropped: ", why);
    }
}

void Daemon::reap_links() {
    for (std::uint64_t token : doomed_) {
        auto it = links_.find(token);
        if (it != links_.end()) {
            std::string ignored;
            (void)it->second.conn->flush(ignored); // e.g. a handshake ERROR frame
            (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.conn->fd(), nullptr);
            links_.erase(it);
        }
    }
    doomed_.clear();
}

} // namespace redd::daemon
