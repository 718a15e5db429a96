#include "membership.hpp"

#include <utility>

namespace redd {

std::string_view to_string(MemberEventKind kind) {
    switch (kind) {
    case MemberEventKind::JoinRequested:
        return "join-requested";
    case MemberEventKind::Joined:
        return "joined";
    case MemberEventKind::Revoked:
        return "revoked";
    case MemberEventKind::Expelled:
        return "expelled";
    case MemberEventKind::Left:
        return "left";
    case MemberEventKind::LeaseExpired:
        return "lease-expired";
    case MemberEventKind::EpochChanged:
        return "epoch-changed";
    case MemberEventKind::LeaseResumed:
        return "lease-resumed";
    }
    return "unknown";
}

std::string_view to_string(CopierState state) {
    switch (state) {
    case CopierState::Joining:
        return "joining";
    case CopierState::Member:
        return "member";
    case CopierState::Expelled:
        return "expelled";
    case CopierState::Left:
        return "left";
    }
    return "unknown";
}

std::string_view to_string(LocalState state) {
    switch (state) {
    case LocalState::Idle:
        return "idle";
    case LocalState::Joining:
        return "joining";
    case LocalState::Member:
        return "member";
    case LocalState::Failed:
        return "failed";
    case LocalState::Left:
        return "left";
    }
    return "unknown";
}

// ---- writer side ----------------------------------------------------------

WriterMembership::WriterMembership(std::string resource, LeaseTiming timing, std::uint64_t epoch)
    : resource_(std::move(resource)), timing_(timing), epoch_(epoch) {
}

void WriterMembership::emit(MemberEventKind kind, std::uint32_t node, TimePoint at,
                            std::string detail) {
    events_.push_back(MembershipEvent{kind, node, epoch_, at, std::move(detail)});
}

void WriterMembership::request_join(std::uint32_t node, std::uint64_t request_id, TimePoint now) {
    auto [it, inserted] = copiers_.try_emplace(
        node, Copier{CopierState::Joining, request_id, false, GrantedLease(timing_.margin)});
    Copier &c = it->second;
    if (!inserted) {
        // A member rejoining (after GC or a restart) has dropped its store
        // and does no I/O until its new join is acknowledged.
        c.state = CopierState::Joining;
        c.join_request = request_id;
    }
    emit(MemberEventKind::JoinRequested, node, now, "");
}

std::vector<JoinGrant> WriterMembership::complete_epoch(std::uint64_t epoch, TimePoint now) {
    std::vector<JoinGrant> grants;
    if (epoch > epoch_) {
        epoch_ = epoch;
        emit(MemberEventKind::EpochChanged, 0, now, "epoch " + std::to_string(epoch));
    }
    for (auto &[node, c] : copiers_) {
        if (c.state != CopierState::Joining) {
            continue;
        }
        c.state = CopierState::Member;
        c.revoked = false;
        c.lease.record(now, timing_.lease);
        grants.push_back(JoinGrant{node, c.join_request, timing_.lease});
        emit(MemberEventKind::Joined, node, now, "");
    }
    return grants;
}

void WriterMembership::adopt(std::uint32_t node, TimePoint now) {
    Copier c{CopierState::Member, 0, false, GrantedLease(timing_.margin)};
    c.lease.record(now, timing_.lease);
    copiers_.insert_or_assign(node, c);
    emit(MemberEventKind::Joined, node, now, "adopted from the previous writer's epoch");
}

std::optional<Millis> WriterMembership::on_heartbeat(std::uint32_t node, TimePoint now) {
    auto it = copiers_.find(node);
    if (it == copiers_.end() || it->second.state != CopierState::Member || it->second.revoked) {
        return std::nullopt;
    }
    it->second.lease.record(now, timing_.lease);
    return timing_.lease;
}

void WriterMembership::revoke(std::uint32_t node, TimePoint now, std::string_view reason) {
    auto it = copiers_.find(node);
    if (it == copiers_.end()) {
        return;
    }
    Copier &c = it->second;
    if (c.state == CopierState::Joining) {
        c.state = CopierState::Left;
        emit(MemberEventKind::Left, node, now, std::string(reason));
    } else if (c.state == CopierState::Member && !c.revoked) {
        c.revoked = true;
        emit(MemberEventKind::Revoked, node, now, std::string(reason));
    }
}

void WriterMembership::on_leave(std::uint32_t node, TimePoint now) {
    auto it = copiers_.find(node);
    if (it == copiers_.end() ||
        (it->second.state != CopierState::Member && it->second.state != CopierState::Joining)) {
        return;
    }
    it->second.state = CopierState::Left;
    emit(MemberEventKind::Left, node, now, "orderly leave");
}

std::vector<std::uint32_t> WriterMembership::tick(TimePoint now) {
    std::vector<std::uint32_t> expelled;
    for (auto &[node, c] : copiers_) {
        if (c.state == CopierState::Member && c.lease.certainly_expired(now)) {
            c.state = CopierState::Expelled;
            expelled.push_back(node);
            emit(MemberEventKind::Expelled, node, now, "read lease expired");
        }
    }
    return expelled;
}

std::optional<CopierState> WriterMembership::state(std::uint32_t node) const {
    auto it = copiers_.find(node);
    if (it == copiers_.end()) {
        return std::nullopt;
    }
    return it->second.state;
}

std::vector<std::uint32_t> WriterMembership::members() const {
    std::vector<std::uint32_t> out;
    for (const auto &[node, c] : copiers_) {
        if (c.state == CopierState::Member) {
            out.push_back(node);
        }
    }
    return out;
}

bool WriterMembership::must_wait_for(std::uint32_t node) const {
    return state(node) == CopierState::Member;
}

std::vector<MembershipEvent> WriterMembership::take_events() {
    return std::exchange(events_, {});
}

// ---- copier side ----------------------------------------------------------

CopierMembership::CopierMembership(std::string resource, std::uint32_t node, LeaseTiming timing,
                                   bool hold)
    : resource_(std::move(resource)), node_(node), timing_(timing), hold_(hold) {
}

void CopierMembership::emit(MemberEventKind kind, TimePoint at, std::string detail) {
    events_.push_back(MembershipEvent{kind, node_, epoch_, at, std::move(detail)});
}

void CopierMembership::start_join(std::uint64_t request_id, TimePoint now) {
    state_ = LocalState::Joining;
    lapsed_ = false;
    join_request_ = request_id;
    join_sent_ = now;
    pending_.clear();
    last_heartbeat_.reset();
    lease_.drop();
    emit(MemberEventKind::JoinRequested, now, "");
}

bool CopierMembership::on_join_ack(std::uint64_t request_id, std::uint64_t epoch, Millis lease,
                                   TimePoint now) {
    if (state_ != LocalState::Joining || request_id != join_request_ ||
        is_stale_epoch(epoch, epoch_)) {
        return false;
    }
    state_ = LocalState::Member;
    epoch_ = epoch;
    // Anchored at our JOIN_REQ's send: the writer granted after that.
    lease_.grant(join_sent_, lease);
    last_heartbeat_ = join_sent_;
    emit(MemberEventKind::Joined, now, "epoch " + std::to_string(epoch));
    return true;
}

bool CopierMembership::heartbeat_due(TimePoint now) const {
    return state_ == LocalState::Member &&
           (!last_heartbeat_ || now >= *last_heartbeat_ + timing_.heartbeat);
}

Millis CopierMembership::send_heartbeat(std::uint64_t request_id, TimePoint now) {
    // Requests older than a lease can no longer extend it; forget them.
    std::erase_if(pending_, [&](const auto &p) { return p.second + timing_.lease <= now; });
    pending_[request_id] = now;
    last_heartbeat_ = now;
    return timing_.lease;
}

bool CopierMembership::on_grant(std::uint64_t request_id, std::uint64_t epoch, Millis lease,
                                TimePoint now) {
    if (state_ != LocalState::Member || is_stale_epoch(epoch, epoch_)) {
        return false;
    }
    auto it = pending_.find(request_id);
    if (it == pending_.end()) {
        return false;
    }
    if (epoch > epoch_) {
        epoch_ = epoch;
        emit(MemberEventKind::EpochChanged, now, "epoch " + std::to_string(epoch));
    }
    lease_.grant(it->second, lease);
    pending_.erase(it);
    if (lapsed_ && lease_.valid(now)) {
        lapsed_ = false;
        emit(MemberEventKind::LeaseResumed, now, "read lease renewed: the device resumes");
    }
    return true;
}

bool CopierMembership::tick(TimePoint now) {
    if (state_ != LocalState::Member || lease_.valid(now)) {
        return false;
    }
    if (hold_) {
        if (lapsed_) {
            return false;
        }
        lapsed_ = true;
        emit(MemberEventKind::LeaseExpired, now, "read lease expired: the device holds its I/O");
        return true;
    }
    state_ = LocalState::Failed;
    pending_.clear();
    emit(MemberEventKind::LeaseExpired, now, "read lease expired: failing the device");
    return true;
}

void CopierMembership::leave(TimePoint now) {
    if (state_ == LocalState::Member || state_ == LocalState::Joining) {
        state_ = LocalState::Left;
        pending_.clear();
        lease_.drop();
        emit(MemberEventKind::Left, now, "orderly leave");
    }
}

std::vector<MembershipEvent> CopierMembership::take_events() {
    return std::exchange(events_, {});
}

} // namespace redd
