#include "stats.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>

namespace redd {
namespace {

using Bucket = LatencyStats::Bucket;

TEST(LatencyStats, BucketBoundsArePowersOfTwoInclusive) {
    EXPECT_EQ(LatencyStats::bucket_of(0), 0U);
    EXPECT_EQ(LatencyStats::bucket_of(1), 0U);
    EXPECT_EQ(LatencyStats::bucket_of(2), 1U);
    EXPECT_EQ(LatencyStats::bucket_of(3), 2U);
    EXPECT_EQ(LatencyStats::bucket_of(4), 2U);
    EXPECT_EQ(LatencyStats::bucket_of(5), 3U);
    EXPECT_EQ(LatencyStats::bucket_of(1024), 10U);
    EXPECT_EQ(LatencyStats::bucket_of(1025), 11U);
    EXPECT_EQ(LatencyStats::bucket_le(0), 1U);
    EXPECT_EQ(LatencyStats::bucket_le(10), 1024U);
    // Every sample is <= its bucket's bound and > the previous one's.
    for (std::uint64_t v : {2ULL, 3ULL, 7ULL, 8ULL, 9ULL, 1000000ULL, 1ULL << 40U}) {
        const auto b = LatencyStats::bucket_of(v);
        EXPECT_LE(v, LatencyStats::bucket_le(b)) << v;
        EXPECT_GT(v, LatencyStats::bucket_le(b - 1)) << v;
    }
    // The last bucket takes everything else.
    const auto huge = std::numeric_limits<std::uint64_t>::max();
    EXPECT_EQ(LatencyStats::bucket_of(huge), LatencyStats::kBuckets - 1);
    EXPECT_EQ(LatencyStats::bucket_le(LatencyStats::kBuckets - 1), huge);
}

TEST(LatencyStats, EmptyHasNoPercentiles) {
    const LatencyStats s;
    EXPECT_EQ(s.count(), 0U);
    EXPECT_EQ(s.percentile(50), std::nullopt);
    EXPECT_TRUE(s.histogram().empty());
    const auto sum = s.summary();
    EXPECT_EQ(sum.count, 0U);
    EXPECT_EQ(sum.p99, 0U);
    EXPECT_EQ(to_string(sum), "n=0");
}

TEST(LatencyStats, ExactNearestRankPercentiles) {
    LatencyStats s;
    // 1..100 in a scrambled order.
    for (std::uint64_t i = 0; i < 100; ++i) {
        s.add((i * 37) % 100 + 1);
    }
    EXPECT_EQ(s.count(), 100U);
    EXPECT_EQ(s.max(), 100U);
    EXPECT_EQ(s.sum(), 5050U);
    EXPECT_EQ(s.percentile(50), 50U);
    EXPECT_EQ(s.percentile(99), 99U);
    EXPECT_EQ(s.percentile(100), 100U);
    EXPECT_EQ(s.percentile(0.5), 1U);
    EXPECT_EQ(s.percentile(0), std::nullopt);
    EXPECT_EQ(s.percentile(100.5), std::nullopt);
    const std::array ps{50.0, 90.0, -1.0};
    EXPECT_EQ(s.percentiles(ps), (std::vector<std::uint64_t>{50, 90, 0}));
    const auto sum = s.summary();
    EXPECT_EQ(sum.p50, 50U);
    EXPECT_EQ(sum.p90, 90U);
    EXPECT_EQ(sum.p99, 99U);
    EXPECT_DOUBLE_EQ(sum.mean, 50.5);
    EXPECT_EQ(to_string(sum), "n=100 p50=50 p90=90 p99=99 max=100");
}

TEST(LatencyStats, SmallSetsRoundUp) {
    LatencyStats s;
    s.add(10);
    s.add(30);
    s.add(20);
    // ceil(0.5 * 3) = 2nd smallest; ceil(0.99 * 3) = 3rd.
    EXPECT_EQ(s.percentile(50), 20U);
    EXPECT_EQ(s.percentile(99), 30U);
    EXPECT_EQ(s.percentile(33), 10U);
    EXPECT_EQ(s.percentile(34), 20U);
}

TEST(LatencyStats, HistogramCountsEverySample) {
    LatencyStats s;
    for (std::uint64_t v : {0ULL, 1ULL, 2ULL, 3ULL, 4ULL, 5ULL, 1024ULL, 1025ULL, 1025ULL}) {
        s.add(v);
    }
    EXPECT_EQ(s.histogram(),
              (std::vector<Bucket>{{1, 2}, {2, 1}, {4, 2}, {8, 1}, {1024, 1}, {2048, 2}}));
}

TEST(LatencyStats, RingKeepsTheLatestSamplesOnly) {
    LatencyStats s;
    // A burst of slow samples, then a full ring of fast ones: the
    // percentiles forget the slow ones, the histogram, count and max do not.
    for (int i = 0; i < 1000; ++i) {
        s.add(1000000);
    }
    for (std::size_t i = 0; i < LatencyStats::kRingSize; ++i) {
        s.add(i % 100 + 1);
    }
    EXPECT_EQ(s.count(), LatencyStats::kRingSize + 1000);
    EXPECT_EQ(s.window(), LatencyStats::kRingSize);
    EXPECT_EQ(s.max(), 1000000U);
    EXPECT_EQ(s.percentile(100), 100U);
    EXPECT_EQ(s.percentile(50), 50U);
    EXPECT_EQ(s.histogram().back(), (Bucket{1U << 20U, 1000}));
    // Half of the ring slow again: p50 is still fast, p51 is not.
    for (std::size_t i = 0; i < LatencyStats::kRingSize / 2; ++i) {
        s.add(5000);
    }
    EXPECT_EQ(s.percentile(50), 100U);
    EXPECT_EQ(s.percentile(51), 5000U);
}

TEST(LatencyStats, ResetForgetsEverything) {
    LatencyStats s;
    s.add(7);
    s.add(700);
    s.reset();
    EXPECT_EQ(s.count(), 0U);
    EXPECT_EQ(s.max(), 0U);
    EXPECT_EQ(s.window(), 0U);
    EXPECT_TRUE(s.histogram().empty());
    EXPECT_EQ(s.percentile(50), std::nullopt);
    s.add(3);
    EXPECT_EQ(s.percentile(50), 3U);
    EXPECT_EQ(s.histogram(), (std::vector<Bucket>{{4, 1}}));
}

TEST(LatencyStats, SumSaturates) {
    LatencyStats s;
    const auto huge = std::numeric_limits<std::uint64_t>::max();
    s.add(huge);
    s.add(huge);
    EXPECT_EQ(s.sum(), huge);
    EXPECT_EQ(s.max(), huge);
    EXPECT_EQ(s.histogram(), (std::vector<Bucket>{{huge, 2}}));
}

} // namespace
} // namespace redd
