// How long `redctl promote` follows a promotion.  Pure logic (the clock is
// passed in), unit-tested in tests/test_promote.cpp.
#pragma once

#include "table.hpp"

#include <chrono>
#include <optional>

namespace redctl {

// A promotion has two waits of very different kinds: the fencing wait that
// redd computed (until the old writer's write lease has certainly ended; a
// lease period plus the margin, known in advance) and the kernel's
// write-back of the store (as long as the store is big, and visibly moving).
// The watch waits out the first, then allows `timeout` without progress:
// PROMOTE accepted (progress()), a change of the device's role, state or
// epoch, or fewer store chunks left in the write-back.  A promotion that
// keeps moving is followed to its end, however long its write-back.
class PromoteWatch {
public:
    using Clock = std::chrono::steady_clock;
    enum class Verdict { kWaiting, kDone, kTimedOut };

    PromoteWatch(Clock::time_point start, std::chrono::milliseconds fence_wait,
                 std::chrono::milliseconds timeout);

    // One look at the device's status (nullopt: none) at `now`.  kDone once
    // the device is an active writer.
    Verdict observe(Clock::time_point now, const std::optional<KernelStatus> &status);

    // A step that the status does not show (redd's promote-accepted event).
    void progress(Clock::time_point now);

    // The point at which observe() says kTimedOut, unless progress comes first.
    [[nodiscard]] Clock::time_point deadline() const { return deadline_; }

    // The fencing wait left at `now` (0 once it is over).
    [[nodiscard]] std::chrono::milliseconds fence_wait_left(Clock::time_point now) const;

private:
    Clock::time_point fence_end_;
    std::chrono::milliseconds timeout_;
    Clock::time_point deadline_;
    std::optional<KernelStatus> last_;
};

} // namespace redctl
