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
#include "control.hpp"
#include "handshake.hpp"
#include "kernel.hpp"
#include "lease.hpp"
#include "log.hpp"
#include "lunmeta.hpp"
#include "membership.hpp"
#include "peer.hpp"
#include "stats.hpp"

#include <cstdint>
#include <deque>
#include <linux/dm-red.h>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace redd::daemon {

// A copier whose read lease ran out with lease_policy suspend holds its I/O.
constexpr std::uint32_t kStateHeld = DM_RED_STATE_HELD;

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
    // Figures of one resource (control socket "stats", SIGUSR1, exit).
    struct Stats {
        std::uint64_t stabilize = 0; // writer: kernel STABILIZE requests
        std::uint64_t chunks = 0;    // in those (copier: in the PRESERVEs received)
        std::uint64_t ranges = 0;
        std::uint64_t preserves = 0; // writer: PRESERVEs sent; copier: received
        std::uint64_t preserve_errors = 0;
        // Writer: kernel STABILIZE -> STABILIZE_ACK; copier: PRESERVE frame
        // -> kernel PRESERVE_DONE.  Microseconds.
        LatencyStats rtt_us;
    };

    // A STABILIZE waiting for the membership to settle.
    struct Deferred {
        KStabilize request;
        TimePoint received;
    };

    // One STABILIZE being made stable (writer).
    struct Stab {
        std::uint64_t epoch = 0;
        std::uint64_t kernel_request = 0;
        TimePoint received; // the kernel's STABILIZE
        std::vector<ChunkRange> ranges;
        std::map<std::uint32_t, std::uint64_t> waiting; // copier -> PRESERVE request id
    };

    // What we last saw in a node's heartbeat slot on the LUN.
    struct SlotSeen {
        lunmeta::NodeSlot slot;
        TimePoint changed; // when we first saw its counter at this value
    };

    // A promotion between the record written on the LUN and the kernel's PROMOTE.
    struct Promotion {
        std::uint64_t epoch = 0;
        std::vector<std::uint32_t> members;
        TimePoint at;          // PROMOTE is sent then: the old write lease is certainly over
        bool sent = false;     // PROMOTE sent, waiting for the kernel's answer
        bool accepted = false; // the kernel accepted it: we are the writer
        TimePoint started;
    };

    struct Resource {
        const ResourceConfig *config = nullptr;
        // This node is the writer: the LUN's epoch record names it (or, with
        // no record yet, the configuration does).
        bool writer = false;
        std::uint32_t writer_node = 0; // the writer now (0: none, it resigned)
        // The kernel device, as last dumped or reported.
        bool present = false;
        bool usable = false; // present with the configured role
        std::uint32_t role = 0;
        std::uint32_t state = 0;
        std::uint64_t epoch = 0;
        std::uint64_t seq = 0;
        std::uint64_t store_total = 0;
        std::string dm_name;
        std::uint32_t chunk_sectors = 0;
        std::uint64_t nr_chunks = 0;
        std::uint64_t store_used = 0; // copier: exceptions (chunks)
        // `down` on the control socket: no membership until a later `up`.
        bool down = false;
        Stats stats;

        // The LUN's metadata (daemon_lun.cpp).
        std::unique_ptr<lunmeta::Area> area;        // null until the LUN could be opened
        std::string area_error;                     // why not (logged when it changes)
        std::optional<lunmeta::EpochRecord> record; // last read
        std::string record_error;                   // why the last read found none
        std::set<std::uint32_t> unrecorded;         // expelled, not yet recorded: still waited for
        std::uint64_t slot_counter = 0;
        TimePoint next_disk; // next heartbeat slot write and metadata read
        std::map<std::uint32_t, SlotSeen> slots;
        bool fenced = false; // writer device, but the LUN names a newer writer
        // Copiers a promoted (or restarted) writer waits for: the record's members.
        std::set<std::uint32_t> adoptable;
        std::optional<Promotion> promotion;
        bool expelled = false; // copier: not a member of the LUN's epoch: gc

        // Writer side.
        std::optional<WriterMembership> members;
        std::optional<WriteLease> write_lease;
        std::map<std::uint64_t, Stab> stabs;              // kernel request id -> stab
        std::map<std::uint64_t, std::uint64_t> preserves; // PRESERVE id -> kernel request id
        std::deque<Deferred> deferred;
        std::set<std::uint32_t> joiners;
        std::set<std::uint32_t> failed;             // answered a preserve with an error
        std::map<std::uint32_t, TimePoint> granted; // copier -> last lease grant sent
        bool leave_epoch = false;                   // a member left: move to a new epoch
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
        std::uint64_t writer_epoch = 0;                      // highest epoch heard from the writer
        std::map<std::uint64_t, TimePoint> preserve_started; // PRESERVE id -> received
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

    // Control socket (daemon_control.cpp).
    void on_control(std::uint64_t client, const Json &request);
    void control_up(std::uint64_t client, Resource &r);
    void control_down(std::uint64_t client, Resource &r, bool force);
    [[nodiscard]] Json status(const Resource *only) const;
    [[nodiscard]] Json resource_status(const Resource &r, TimePoint now) const;
    // An event line to the subscribers (Documentation/control-socket.rst).
    void emit(const std::string &resource, const char *what, const Json &fields);
    void emit_kernel_event(const Resource &r, std::uint32_t event);
    void emit_member_event(const Resource &r, const MembershipEvent &e);
    void log_stats(const char *why) const;

    // Kernel.
    void on_kernel(KernelMessage msg);
    void start_kernel();
    void resync_kernel();
    Resource *resource(const std::string &name);
    void update_device(const KState &state, bool from_event, std::uint32_t event);

    // Writer.
    void writer_stabilize(Resource &r, KStabilize s, TimePoint received, bool fresh);
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

    // The LUN's metadata, roles, promotion and demotion (daemon_lun.cpp).
    // Whether this node writes the resource: the LUN's record (or, with no
    // record, the configuration) names it, or its promotion was accepted.
    [[nodiscard]] bool writes(const Resource &r) const;
    void open_area(Resource &r);
    void disk_tick(Resource &r, TimePoint now);
    // Re-reads the epoch record; false if it cannot be read, or is damaged
    // (r.record then stays the last one read: damaged is never absent).
    bool read_record(Resource &r);
    // Writes the epoch record for `epoch` with these copiers, only over the
    // record last read (r.record; none: a blank block) or, with
    // `overwrite_damaged`, over a damaged one; false if the LUN holds
    // another record (it is then re-read at once) or on an I/O error.
    bool write_record(Resource &r, std::uint64_t epoch, const std::vector<std::uint32_t> &members,
                      bool resigned, bool overwrite_damaged = false);
    void follow_record(Resource &r, TimePoint now);
    [[nodiscard]] bool slot_alive(const Resource &r, std::uint32_t node, TimePoint now) const;
    // The last read found a damaged record (not blank, not another
    // resource's): r.record is then the last good one.
    [[nodiscard]] static bool record_damaged(const Resource &r);
    // A promotion under way as JSON: {"epoch","members","accepted","fence_wait_left_ms"}.
    [[nodiscard]] static Json promotion_status(const Promotion &p, TimePoint now);
    // Why a promotion of `r` is refused now ("" if it is allowed).
    // With force only the device's own fitness is checked.
    [[nodiscard]] std::string promote_refusal(const Resource &r, TimePoint now, bool force) const;
    void control_promote(std::uint64_t client, Resource &r, bool force);
    void control_demote(std::uint64_t client, Resource &r, bool force);
    void promote_tick(Resource &r, TimePoint now);
    [[nodiscard]] Json lun_status(const Resource &r, TimePoint now) const;

    const Config &config_;
    Logger &log_;
    LeaseTiming timing_;
    UniqueFd epoll_;
    UniqueFd signal_fd_;
    UniqueFd timer_fd_;
    UniqueFd listen_fd_;
    std::unique_ptr<ControlServer> control_;
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
