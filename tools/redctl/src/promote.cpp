#include "promote.hpp"

#include <algorithm>

namespace redctl {

namespace {

bool moved(const KernelStatus &before, const KernelStatus &now) {
    if (before.role != now.role || before.state != now.state || before.epoch != now.epoch) {
        return true;
    }
    // The write-back: every chunk written back leaves the store.
    return now.role == "writer" && now.store_used < before.store_used;
}

} // namespace

PromoteWatch::PromoteWatch(Clock::time_point start, std::chrono::milliseconds fence_wait,
                           std::chrono::milliseconds timeout)
    : fence_end_(start + std::max(fence_wait, std::chrono::milliseconds{0})), timeout_(timeout),
      deadline_(fence_end_ + timeout) {
}

PromoteWatch::Verdict PromoteWatch::observe(Clock::time_point now,
                                            const std::optional<KernelStatus> &status) {
    if (status && status->role == "writer" && status->state == "active") {
        return Verdict::kDone;
    }
    if (status) {
        if (last_ && moved(*last_, *status)) {
            progress(now);
        }
        last_ = status;
    }
    return now >= deadline_ ? Verdict::kTimedOut : Verdict::kWaiting;
}

void PromoteWatch::progress(Clock::time_point now) {
    deadline_ = std::max(deadline_, now + timeout_);
}

std::chrono::milliseconds PromoteWatch::fence_wait_left(Clock::time_point now) const {
    if (now >= fence_end_) {
        return std::chrono::milliseconds{0};
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(fence_end_ - now);
}

} // namespace redctl
