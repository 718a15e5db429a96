// Lease arithmetic on an injected steady clock.
//
// A lease is granted by a writer and held by a copier.  The two sides see it
// from opposite ends and must err in opposite directions:
//  - the holder (copier) anchors the lease at the moment it SENT the request
//    the grant answers, which is before the writer sent the grant, so the
//    holder stops relying on the lease no later than the grantor assumes;
//  - the grantor (writer) anchors it at the moment it SENT the grant and adds
//    a safety margin for clock-rate differences, so it treats the lease as
//    over only once it has certainly expired on the holder.
#pragma once

#include <chrono>
#include <optional>

namespace redd {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Millis = std::chrono::milliseconds;

// The holder's view of a lease.
class HeldLease {
public:
    // A grant of `duration` that answers a request sent at `request_sent`.
    // Leases only ever grow: an older, shorter grant arriving late is ignored.
    void grant(TimePoint request_sent, Millis duration);
    void drop() { expiry_.reset(); }

    [[nodiscard]] bool valid(TimePoint now) const { return expiry_ && now < *expiry_; }
    [[nodiscard]] std::optional<TimePoint> expiry() const { return expiry_; }

private:
    std::optional<TimePoint> expiry_;
};

// The grantor's view of a lease it handed out.
class GrantedLease {
public:
    explicit GrantedLease(Millis margin) : margin_(margin) {}

    // A grant of `duration` sent at `sent`.
    void record(TimePoint sent, Millis duration);

    // True once the holder has certainly stopped relying on the lease
    // (also when no grant was ever made).
    [[nodiscard]] bool certainly_expired(TimePoint now) const { return !end_ || now >= *end_; }
    [[nodiscard]] std::optional<TimePoint> certain_end() const { return end_; }

private:
    Millis margin_;
    std::optional<TimePoint> end_;
};

// The writer node's own write lease, pushed to its kernel (DM_RED_CMD_LEASE).
// It is renewed only while redd is healthy; when it is not, the lease is
// revoked (0) and the kernel holds or fails writes per the table.
class WriteLease {
public:
    WriteLease(Millis duration, Millis renew_interval)
        : duration_(duration), renew_interval_(renew_interval) {}

    // Whether a renewal (or revocation) should be sent to the kernel now.
    [[nodiscard]] bool due(TimePoint now) const;
    // The LEASE_MS value to send now: the lease duration while healthy, 0
    // to revoke when not.
    Millis renew(TimePoint now, bool healthy);
    // The kernel holds the lease at least until then (it anchors the lease
    // when it receives the renewal, after it was sent); empty when revoked.
    [[nodiscard]] std::optional<TimePoint> held_until() const { return held_until_; }

private:
    Millis duration_;
    Millis renew_interval_;
    std::optional<TimePoint> last_sent_;
    std::optional<TimePoint> held_until_;
};

} // namespace redd
