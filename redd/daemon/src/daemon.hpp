// The redd daemon: one epoll loop over the kernel channel, the listening
// socket, the peer connections, a timerfd tick and a signalfd; and the
// stability protocol of every configured resource on top.
//
// Connections: the node with the lower id dials the node with the higher id
// (and reconnects with exponential backoff, 100 ms to 2 s); a node accepts
// only from lower ids.  Should two authenticated connections to one peer
// exist anyway (a reconnect racing a stale socket), the newest wins.
#pragma once

#include "config.hpp"
#include "handshake.hpp"
#include "kernel.hpp"
#include "lease.hpp"
#include "log.hpp"
#include "membership.hpp"
#include "peer.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace redd::daemon {

class Daemon {
public:
    Daemon(const Config &config, Logger &log);
    Daemon(const Daemon &) = delete;
    Daemon &operator=(const Daemon &) = delete;
    Daemon(Daemon &&) = delete;
    Daemon &operator=(Daemon &&) = delete;
    ~Daemon();

    // Runs until SIGTERM/SIGINT (returns 0) or a fatal error (returns 1).
    int run();

private:
    // One STABILIZE being made stable (writer).
    struct Stab {
        std::uint64_t epoch = 0;
        std::uint64_t kernel_request = 0;
        std::vector<ChunkRange> ranges;
        std::map<std::uint32_t, std::uint64_t> waiting; // copier -> PRESERVE request id
    };

    struct Resource {
        const ResourceConfig *config = nullptr;
        bool writer = false; // this node is the configured writer
        // The kernel device, as last dumped or reported.
        bool present = false;
        bool usable = false; // present with the configured role
        std::uint32_t role = 0;
        std::uint32_t state = 0;
        std::uint64_t epoch = 0;
        std::uint64_t seq = 0;
        std::uint64_t store_total = 0;

        // Writer side.
        std::optional<WriterMembership> members;
        std::optional<WriteLease> write_lease;
        std::map<std::uint64_t, Stab> stabs;              // kernel request id -> stab
        std::map<std::uint64_t, std::uint64_t> preserves; // PRESERVE id -> kernel request id
        std::deque<KStabilize> deferred;
        std::set<std::uint32_t> joiners;
        std::set<std::uint32_t> failed; // answered a preserve with an error
        bool epoch_change = false;
        std::uint64_t epoch_request = 0;
        std::uint64_t epoch_base = 0;
        TimePoint epoch_started;
        std::optional<TimePoint> grace_until; // after a restart: members unknown

        // Copier side.
        std::optional<CopierMembership> local;
        TimePoint join_sent;
        bool resuming = false; // restarted with an active device, no grant yet
        TimePoint resume_deadline;
        std::uint64_t writer_epoch = 0; // highest epoch heard from the writer
    };

    struct Peer {
        NodeConfig config;
        std::uint64_t link = 0; // token of its connection, 0 = none
        TimePoint next_dial;
        Millis backoff{100};
    };

    struct Link {
        std::unique_ptr<Conn> conn;
        std::shared_ptr<std::map<std::string, std::uint64_t>> floor; // epochs heard
        std::map<std::string, std::uint64_t> sent;                   // epochs sent
        bool want_out = false;
        bool was_authenticated = false;
    };

    // Event loop plumbing.
    void setup_signals();
    void setup_timer();
    void add_fd(int fd, std::uint64_t token, std::uint32_t events) const;
    void update_interest(std::uint64_t token);
    void on_signal();
    void on_tick();
    void on_accept();
    void on_link_event(std::uint64_t token, std::uint32_t events);
    void close_link(std::uint64_t token, const std::string &why);
    void reap_links();
    void dial_peers(TimePoint now);
    void handle_output(std::uint64_t token, SessionOutput &out);
    std::uint64_t new_link(UniqueFd fd, bool initiator, bool connecting,
                           std::optional<std::uint32_t> peer);
    bool send_frame(std::uint32_t node, Frame frame);
    Link *peer_link(std::uint32_t node);
    void on_peer_up(std::uint32_t node);
    void on_peer_down(std::uint32_t node);
    void on_frame(std::uint32_t node, const Frame &frame);
    std::uint64_t next_request() { return next_request_++; }
    void notify_ready();

    // Kernel.
    void on_kernel(KernelMessage msg);
    void start_kernel();
    void resync_kernel();
    Resource *resource(const std::string &name);
    void update_device(const KState &state, bool from_event, std::uint32_t event);

    // Writer.
    void writer_stabilize(Resource &r, KStabilize s);
    bool stab_blocked(const Resource &r, std::uint64_t epoch, TimePoint now) const;
    void flush_deferred(Resource &r, TimePoint now);
    void finish_if_done(Resource &r, std::uint64_t kernel_request);
    void stop_waiting_for(Resource &r, std::uint32_t node, const char *why);
    void writer_epoch_done(Resource &r, const KEpochDone &done);
    void writer_tick(Resource &r, TimePoint now);
    void writer_frame(Resource &r, std::uint32_t node, const Frame &frame);
    void log_membership(Resource &r);

    // Copier.
    void copier_tick(Resource &r, TimePoint now);
    void copier_frame(Resource &r, std::uint32_t node, const Frame &frame);
    // Hands the read lease we hold from the writer to the kernel, which
    // fails the copier device by itself if it runs out.
    void push_read_lease(Resource &r, TimePoint now);
    void copier_preserve_done(Resource &r, const KPreserveDone &done);

    const Config &config_;
    Logger &log_;
    LeaseTiming timing_;
    UniqueFd epoll_;
    UniqueFd signal_fd_;
    UniqueFd timer_fd_;
    UniqueFd listen_fd_;
    std::unique_ptr<KernelChannel> kernel_;
    ReplayCache replay_{1024};
    std::map<std::string, Resource> resources_;
    std::map<std::uint32_t, Peer> peers_;
    std::map<std::uint64_t, Link> links_;
    std::set<std::uint64_t> doomed_;
    std::uint64_t next_token_ = 100;
    std::uint64_t next_request_ = 1;
    bool dumped_ = false;
    bool registered_ = false;
    bool ready_ = false;
    bool quit_ = false;
    int exit_code_ = 0;
    bool watchdog_ = false;
};

} // namespace redd::daemon
