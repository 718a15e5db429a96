#include "membership.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace redd {
namespace {

const TimePoint t0{std::chrono::seconds(1000)};
const LeaseTiming timing{Millis{3000}, Millis{300}, Millis{500}};

std::vector<MemberEventKind> kinds(const std::vector<MembershipEvent> &events) {
    std::vector<MemberEventKind> out;
    std::transform(events.begin(), events.end(), std::back_inserter(out),
                   [](const MembershipEvent &e) { return e.kind; });
    return out;
}

TEST(WriterMembership, JoinThenMember) {
    WriterMembership w("pg", timing, 1);
    w.request_join(2, 77, t0);
    EXPECT_EQ(w.state(2), CopierState::Joining);
    EXPECT_FALSE(w.must_wait_for(2));
    EXPECT_EQ(w.on_heartbeat(2, t0), std::nullopt); // not a member yet
    auto grants = w.complete_epoch(2, t0 + Millis{10});
    ASSERT_EQ(grants.size(), 1U);
    EXPECT_EQ(grants[0].node, 2U);
    EXPECT_EQ(grants[0].request_id, 77U);
    EXPECT_EQ(grants[0].lease, Millis{3000});
    EXPECT_EQ(w.epoch(), 2U);
    EXPECT_EQ(w.state(2), CopierState::Member);
    EXPECT_TRUE(w.must_wait_for(2));
    EXPECT_EQ(w.members(), std::vector<std::uint32_t>{2});
    EXPECT_EQ(kinds(w.take_events()),
              (std::vector{MemberEventKind::JoinRequested, MemberEventKind::EpochChanged,
                           MemberEventKind::Joined}));
    EXPECT_TRUE(w.take_events().empty());
}

TEST(WriterMembership, AdoptedCopierIsMemberUntilItsAssumedLeaseCertainlyExpires) {
    WriterMembership w("pg", timing, 5);
    w.adopt(3, t0);
    EXPECT_EQ(w.state(3), CopierState::Member);
    EXPECT_TRUE(w.must_wait_for(3));
    EXPECT_EQ(kinds(w.take_events()), std::vector{MemberEventKind::Joined});
    // Silent: kept for lease + margin, then expelled.
    EXPECT_TRUE(w.tick(t0 + Millis{3299}).empty());
    EXPECT_EQ(w.tick(t0 + Millis{3300}), std::vector<std::uint32_t>{3});
    EXPECT_FALSE(w.must_wait_for(3));
    // A heartbeat in time renews it like any member's.
    w.adopt(4, t0);
    EXPECT_EQ(w.on_heartbeat(4, t0 + Millis{3000}), Millis{3000});
    EXPECT_TRUE(w.tick(t0 + Millis{3300}).empty());
}

TEST(WriterMembership, SilentCopierExpelledOnlyAfterLeaseAndMargin) {
    WriterMembership w("pg", timing, 1);
    w.request_join(2, 1, t0);
    w.complete_epoch(2, t0);
    // Heartbeat at t0+1000 renews the grant: now ends at t0+1000+3000+300.
    EXPECT_EQ(w.on_heartbeat(2, t0 + Millis{1000}), Millis{3000});
    EXPECT_TRUE(w.tick(t0 + Millis{4299}).empty());
    EXPECT_EQ(w.state(2), CopierState::Member);
    EXPECT_EQ(w.tick(t0 + Millis{4300}), std::vector<std::uint32_t>{2});
    EXPECT_EQ(w.state(2), CopierState::Expelled);
    EXPECT_FALSE(w.must_wait_for(2));
    EXPECT_EQ(w.on_heartbeat(2, t0 + Millis{4400}), std::nullopt);
    auto ev = w.take_events();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back().kind, MemberEventKind::Expelled);
    EXPECT_EQ(ev.back().node, 2U);
    EXPECT_EQ(ev.back().at, t0 + Millis{4300});
}

TEST(WriterMembership, RevokedCopierIsNotRenewedButWaitedFor) {
    WriterMembership w("pg", timing, 1);
    w.request_join(2, 1, t0);
    w.complete_epoch(2, t0);
    w.revoke(2, t0 + Millis{100}, "preserve timed out");
    EXPECT_EQ(w.on_heartbeat(2, t0 + Millis{200}), std::nullopt);
    EXPECT_TRUE(w.must_wait_for(2)); // its lease still runs
    EXPECT_TRUE(w.tick(t0 + Millis{3299}).empty());
    EXPECT_EQ(w.tick(t0 + Millis{3300}), std::vector<std::uint32_t>{2});
}

TEST(WriterMembership, JoinerThatGoesAwayLeavesAtOnce) {
    WriterMembership w("pg", timing, 1);
    w.request_join(3, 1, t0);
    w.revoke(3, t0, "disconnected");
    EXPECT_EQ(w.state(3), CopierState::Left);
    EXPECT_TRUE(w.complete_epoch(2, t0).empty());
}

TEST(WriterMembership, OrderlyLeaveAndRejoin) {
    WriterMembership w("pg", timing, 1);
    w.request_join(2, 1, t0);
    w.complete_epoch(2, t0);
    w.on_leave(2, t0 + Millis{50});
    EXPECT_EQ(w.state(2), CopierState::Left);
    EXPECT_TRUE(w.members().empty());
    EXPECT_TRUE(w.tick(t0 + Millis{10000}).empty());
    w.request_join(2, 5, t0 + Millis{20000});
    auto grants = w.complete_epoch(3, t0 + Millis{20000});
    ASSERT_EQ(grants.size(), 1U);
    EXPECT_EQ(grants[0].request_id, 5U);
    EXPECT_EQ(w.state(2), CopierState::Member);
    auto ev = kinds(w.take_events());
    EXPECT_NE(std::find(ev.begin(), ev.end(), MemberEventKind::Left), ev.end());
}

TEST(WriterMembership, StaleEpochs) {
    EXPECT_TRUE(is_stale_epoch(1, 2));
    EXPECT_FALSE(is_stale_epoch(2, 2));
    EXPECT_FALSE(is_stale_epoch(3, 2));
}

TEST(CopierMembership, JoinLeaseAnchoredAtRequest) {
    CopierMembership c("pg", 2, timing);
    EXPECT_EQ(c.state(), LocalState::Idle);
    c.start_join(10, t0);
    EXPECT_FALSE(c.on_join_ack(11, 5, Millis{3000}, t0)); // wrong request
    EXPECT_TRUE(c.on_join_ack(10, 5, Millis{3000}, t0 + Millis{800}));
    EXPECT_EQ(c.state(), LocalState::Member);
    EXPECT_EQ(c.epoch(), 5U);
    EXPECT_EQ(*c.lease().expiry(), t0 + Millis{3000});
    EXPECT_FALSE(c.on_join_ack(10, 5, Millis{3000}, t0)); // duplicate
}

TEST(CopierMembership, HeartbeatsRenewAndExpiryFailsDevice) {
    CopierMembership c("pg", 2, timing);
    c.start_join(1, t0);
    c.on_join_ack(1, 5, Millis{3000}, t0);
    EXPECT_FALSE(c.heartbeat_due(t0 + Millis{499}));
    EXPECT_TRUE(c.heartbeat_due(t0 + Millis{500}));
    EXPECT_EQ(c.send_heartbeat(2, t0 + Millis{500}), Millis{3000});
    // The grant arrives late, but the lease counts from our request.
    EXPECT_TRUE(c.on_grant(2, 5, Millis{3000}, t0 + Millis{1400}));
    EXPECT_EQ(*c.lease().expiry(), t0 + Millis{3500});
    EXPECT_FALSE(c.on_grant(2, 5, Millis{3000}, t0 + Millis{1400}));  // answered already
    EXPECT_FALSE(c.on_grant(99, 5, Millis{3000}, t0 + Millis{1400})); // never asked
    EXPECT_FALSE(c.tick(t0 + Millis{3499}));
    EXPECT_TRUE(c.tick(t0 + Millis{3500}));
    EXPECT_EQ(c.state(), LocalState::Failed);
    EXPECT_FALSE(c.tick(t0 + Millis{3600})); // reported once
    auto ev = c.take_events();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back().kind, MemberEventKind::LeaseExpired);
    // A grant after expiry cannot revive the lease.
    EXPECT_FALSE(c.on_grant(2, 5, Millis{3000}, t0 + Millis{3700}));
    // Restart: join again.
    c.start_join(3, t0 + Millis{4000});
    EXPECT_EQ(c.state(), LocalState::Joining);
    EXPECT_FALSE(c.lease().valid(t0 + Millis{4000}));
}

TEST(CopierMembership, HoldKeepsAskingAfterExpiryAndAGrantResumes) {
    CopierMembership c("pg", 2, timing, true);
    c.start_join(1, t0);
    ASSERT_TRUE(c.on_join_ack(1, 4, Millis{3000}, t0 + Millis{5}));
    EXPECT_FALSE(c.tick(t0 + Millis{2999}));
    EXPECT_TRUE(c.tick(t0 + Millis{3000})); // expired: reported once
    EXPECT_FALSE(c.tick(t0 + Millis{3500}));
    EXPECT_TRUE(c.lapsed());
    EXPECT_EQ(c.state(), LocalState::Member); // still asking
    ASSERT_TRUE(c.heartbeat_due(t0 + Millis{3600}));
    c.send_heartbeat(9, t0 + Millis{3600});
    // A newer writer's grant (after a promotion) renews it.
    EXPECT_TRUE(c.on_grant(9, 6, Millis{3000}, t0 + Millis{3700}));
    EXPECT_FALSE(c.lapsed());
    EXPECT_EQ(c.epoch(), 6U);
    EXPECT_EQ(kinds(c.take_events()),
              (std::vector{MemberEventKind::JoinRequested, MemberEventKind::Joined,
                           MemberEventKind::LeaseExpired, MemberEventKind::EpochChanged,
                           MemberEventKind::LeaseResumed}));
}

TEST(CopierMembership, EpochMovesForwardOnlyAndStaleGrantsAreRefused) {
    CopierMembership c("pg", 2, timing);
    c.start_join(1, t0);
    c.on_join_ack(1, 5, Millis{3000}, t0);
    c.send_heartbeat(2, t0 + Millis{500});
    c.send_heartbeat(3, t0 + Millis{1000});
    EXPECT_TRUE(c.on_grant(2, 6, Millis{3000}, t0 + Millis{600}));
    EXPECT_EQ(c.epoch(), 6U);
    EXPECT_FALSE(c.on_grant(3, 5, Millis{3000}, t0 + Millis{1100})); // older epoch
    EXPECT_EQ(*c.lease().expiry(), t0 + Millis{3500});
}

TEST(CopierMembership, OrderlyLeave) {
    CopierMembership c("pg", 2, timing);
    c.start_join(1, t0);
    c.on_join_ack(1, 5, Millis{3000}, t0);
    c.leave(t0 + Millis{100});
    EXPECT_EQ(c.state(), LocalState::Left);
    EXPECT_FALSE(c.lease().valid(t0 + Millis{100}));
    EXPECT_FALSE(c.tick(t0 + Millis{10000}));
    EXPECT_FALSE(c.heartbeat_due(t0 + Millis{10000}));
}

} // namespace
} // namespace redd
