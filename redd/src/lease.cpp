#include "lease.hpp"

#include <algorithm>

namespace redd {

void HeldLease::grant(TimePoint request_sent, Millis duration) {
    const TimePoint end = request_sent + duration;
    expiry_ = expiry_ ? std::max(*expiry_, end) : end;
}

void GrantedLease::record(TimePoint sent, Millis duration) {
    const TimePoint end = sent + duration + margin_;
    end_ = end_ ? std::max(*end_, end) : end;
}

bool WriteLease::due(TimePoint now) const {
    return !last_sent_ || now >= *last_sent_ + renew_interval_;
}

Millis WriteLease::renew(TimePoint now, bool healthy) {
    last_sent_ = now;
    if (!healthy) {
        held_until_.reset();
        return Millis{0};
    }
    held_until_ = now + duration_;
    return duration_;
}

} // namespace redd
