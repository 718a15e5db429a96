#include "lease.hpp"

#include <gtest/gtest.h>

namespace redd {
namespace {

const TimePoint t0{std::chrono::seconds(1000)};

TEST(HeldLease, ValidUntilJustBeforeExpiry) {
    HeldLease l;
    EXPECT_FALSE(l.valid(t0));
    l.grant(t0, Millis{3000});
    EXPECT_TRUE(l.valid(t0));
    EXPECT_TRUE(l.valid(t0 + Millis{2999}));
    EXPECT_FALSE(l.valid(t0 + Millis{3000}));
    ASSERT_TRUE(l.expiry());
    EXPECT_EQ(*l.expiry(), t0 + Millis{3000});
}

TEST(HeldLease, NeverShrinks) {
    HeldLease l;
    l.grant(t0 + Millis{1000}, Millis{3000});
    l.grant(t0, Millis{3000}); // a late answer to an older request
    EXPECT_EQ(*l.expiry(), t0 + Millis{4000});
    l.drop();
    EXPECT_FALSE(l.valid(t0));
}

TEST(GrantedLease, ExpiresOnlyAfterLeasePlusMargin) {
    GrantedLease g(Millis{300});
    EXPECT_TRUE(g.certainly_expired(t0)); // nothing granted
    g.record(t0, Millis{3000});
    EXPECT_FALSE(g.certainly_expired(t0 + Millis{3000}));
    EXPECT_FALSE(g.certainly_expired(t0 + Millis{3299}));
    EXPECT_TRUE(g.certainly_expired(t0 + Millis{3300}));
}

TEST(Lease, HolderAlwaysExpiresBeforeGrantor) {
    // Copier asks at t0, the grant leaves the writer at t0 + d (d >= 0):
    // the holder's end (t0 + L) is never after the grantor's (t0 + d + L + m).
    for (int d = 0; d < 2000; d += 250) {
        HeldLease held;
        GrantedLease granted(Millis{0});
        granted.record(t0 + Millis{d}, Millis{3000});
        held.grant(t0, Millis{3000});
        EXPECT_LE(*held.expiry(), *granted.certain_end());
    }
}

TEST(WriteLease, RenewsWhileHealthyAndRevokesWhenNot) {
    WriteLease w(Millis{3000}, Millis{1000});
    EXPECT_TRUE(w.due(t0));
    EXPECT_EQ(w.renew(t0, true), Millis{3000});
    EXPECT_EQ(*w.held_until(), t0 + Millis{3000});
    EXPECT_FALSE(w.due(t0 + Millis{999}));
    EXPECT_TRUE(w.due(t0 + Millis{1000}));
    EXPECT_EQ(w.renew(t0 + Millis{1000}, false), Millis{0});
    EXPECT_FALSE(w.held_until());
    EXPECT_EQ(w.renew(t0 + Millis{2000}, true), Millis{3000});
    EXPECT_EQ(*w.held_until(), t0 + Millis{5000});
}

} // namespace
} // namespace redd
