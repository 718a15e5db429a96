// Membership of one resource, as pure state machines on an injected clock.
//
// Writer side: copiers go Joining -> Member -> Expelled | Left.  A member's
// read lease is renewed by its heartbeats; a member that stops answering is
// expelled only once the lease the writer last granted it has certainly
// expired.  Copier side: Idle -> Joining -> Member -> Failed | Left; when its
// own lease expires it must fail its device.
#pragma once

#include "frame.hpp"
#include "lease.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redd {

struct LeaseTiming {
    Millis lease{3000};    // read lease granted to copiers
    Millis margin{300};    // writer-side safety margin on top of the lease
    Millis heartbeat{500}; // interval between copier lease requests
};

enum class MemberEventKind {
    JoinRequested,
    Joined,
    Revoked,      // writer: stops renewing a copier's lease
    Expelled,     // writer: lease certainly expired, copier removed
    Left,         // orderly leave (or a joiner that went away)
    LeaseExpired, // copier: own lease expired, the device must fail (or hold)
    EpochChanged,
    LeaseResumed, // copier: a grant after an expiry with hold: the device resumes
};

std::string_view to_string(MemberEventKind kind);

struct MembershipEvent {
    MemberEventKind kind;
    std::uint32_t node = 0;
    std::uint64_t epoch = 0;
    TimePoint at;
    std::string detail;
};

enum class CopierState { Joining, Member, Expelled, Left };

std::string_view to_string(CopierState state);

struct JoinGrant {
    std::uint32_t node = 0;
    std::uint64_t request_id = 0; // of the copier's JOIN_REQ
    Millis lease{0};
};

class WriterMembership {
public:
    WriterMembership(std::string resource, LeaseTiming timing, std::uint64_t epoch);

    // A copier asks to join.  The caller then moves the kernel to a new
    // epoch (NEW_EPOCH) and calls complete_epoch() when it is done.
    void request_join(std::uint32_t node, std::uint64_t request_id, TimePoint now);
    // The kernel has drained and moved to `epoch`.  Every joiner becomes a
    // member; returns the JOIN_ACKs to send now (their grants are recorded
    // as sent at `now`).
    std::vector<JoinGrant> complete_epoch(std::uint64_t epoch, TimePoint now);
    // After a promotion: a copier of the previous writer's last epoch (it
    // preserved everything that writer wrote) is a member at once.  It is
    // treated as if granted a lease now, so it is expelled only if it stays
    // silent until that has certainly expired.
    void adopt(std::uint32_t node, TimePoint now);
    // A member's lease request; returns the grant to send now, or nothing
    // if the node is not a member in good standing.
    std::optional<Millis> on_heartbeat(std::uint32_t node, TimePoint now);
    // Stop renewing a member's lease (unresponsive, disconnected).  It is
    // expelled by tick() once its lease has certainly expired.  A joiner
    // holds no lease and leaves at once.
    void revoke(std::uint32_t node, TimePoint now, std::string_view reason);
    // Orderly leave.
    void on_leave(std::uint32_t node, TimePoint now);
    // Expels the members whose lease has certainly expired; returns them.
    std::vector<std::uint32_t> tick(TimePoint now);

    [[nodiscard]] std::optional<CopierState> state(std::uint32_t node) const;
    [[nodiscard]] std::vector<std::uint32_t> members() const;
    // Whether the writer must still wait for this copier (e.g. for a
    // preserve): true while it is a member, even a revoked one.
    [[nodiscard]] bool must_wait_for(std::uint32_t node) const;
    [[nodiscard]] std::uint64_t epoch() const { return epoch_; }
    [[nodiscard]] const std::string &resource() const { return resource_; }
    std::vector<MembershipEvent> take_events();

private:
    struct Copier {
        CopierState state = CopierState::Joining;
        std::uint64_t join_request = 0;
        bool revoked = false;
        GrantedLease lease;
    };

    void emit(MemberEventKind kind, std::uint32_t node, TimePoint at, std::string detail);

    std::string resource_;
    LeaseTiming timing_;
    std::uint64_t epoch_;
    std::map<std::uint32_t, Copier> copiers_;
    std::vector<MembershipEvent> events_;
};

enum class LocalState { Idle, Joining, Member, Failed, Left };

std::string_view to_string(LocalState state);

class CopierMembership {
public:
    // hold: the device holds its I/O when the read lease runs out
    // (lease_policy suspend) instead of failing: we stay a member, keep
    // asking, and a later grant renews the lease.
    CopierMembership(std::string resource, std::uint32_t node, LeaseTiming timing,
                     bool hold = false);

    // Start (or restart, after a failure, leave or GC) a join; the caller
    // sends JOIN_REQ with this request id.
    void start_join(std::uint64_t request_id, TimePoint now);
    // A JOIN_ACK; true if it completes our join (the caller then sends the
    // kernel JOIN_ACK at `epoch`).
    bool on_join_ack(std::uint64_t request_id, std::uint64_t epoch, Millis lease, TimePoint now);
    // Whether a lease request is due.
    [[nodiscard]] bool heartbeat_due(TimePoint now) const;
    // Records a lease request sent now with this id; returns the lease to ask.
    Millis send_heartbeat(std::uint64_t request_id, TimePoint now);
    // A grant answering one of our requests.  Frames of a newer epoch move us
    // to it; stale ones are refused (false).
    bool on_grant(std::uint64_t request_id, std::uint64_t epoch, Millis lease, TimePoint now);
    // True exactly once per expiry, when the lease has run out: without
    // hold the device must fail (state Failed); with hold it holds its I/O
    // until a grant (lapsed() until then).
    bool tick(TimePoint now);
    [[nodiscard]] bool lapsed() const { return lapsed_; }
    void leave(TimePoint now);

    [[nodiscard]] LocalState state() const { return state_; }
    [[nodiscard]] std::uint64_t epoch() const { return epoch_; }
    [[nodiscard]] const HeldLease &lease() const { return lease_; }
    std::vector<MembershipEvent> take_events();

private:
    void emit(MemberEventKind kind, TimePoint at, std::string detail);

    std::string resource_;
    std::uint32_t node_;
    LeaseTiming timing_;
    bool hold_;
    bool lapsed_ = false;
    LocalState state_ = LocalState::Idle;
    std::uint64_t epoch_ = 0;
    std::uint64_t join_request_ = 0;
    TimePoint join_sent_;
    std::optional<TimePoint> last_heartbeat_;
    std::map<std::uint64_t, TimePoint> pending_; // lease request id -> sent at
    HeldLease lease_;
    std::vector<MembershipEvent> events_;
};

} // namespace redd
