// Latency statistics: a log2 histogram of every sample since the last
// reset, and exact percentiles over a ring of the most recent samples.
// Used by redd for the stabilization and preserve round trips (in
// microseconds); nothing here knows what the samples mean.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace redd {

class LatencyStats {
public:
    // Percentiles are exact over this many of the latest samples.
    static constexpr std::size_t kRingSize = 65536;
    // Bucket i holds the samples v with 2^(i-1) < v <= 2^i (bucket 0: v <= 1);
    // the last one also holds everything larger.
    static constexpr std::size_t kBuckets = 64;

    struct Bucket {
        std::uint64_t le = 0; // inclusive upper bound (max() for the last bucket)
        std::uint64_t count = 0;
        bool operator==(const Bucket &) const = default;
    };

    struct Summary {
        std::uint64_t count = 0; // samples since the last reset
        std::uint64_t max = 0;   // largest since the last reset
        std::uint64_t p50 = 0;   // over the ring (0 when there is no sample)
        std::uint64_t p90 = 0;
        std::uint64_t p99 = 0;
        double mean = 0.0; // since the last reset
    };

    void add(std::uint64_t sample);
    void reset();

    [[nodiscard]] std::uint64_t count() const { return count_; }
    [[nodiscard]] std::uint64_t max() const { return max_; }
    [[nodiscard]] std::uint64_t sum() const { return sum_; }
    // How many samples the percentiles are taken over: min(count, kRingSize).
    [[nodiscard]] std::size_t window() const { return ring_.size(); }

    // Nearest-rank percentile (0 < p <= 100) over the ring: the smallest
    // sample such that at least p% of the ring is <= it.  Nothing when the
    // ring is empty or p is out of range.
    [[nodiscard]] std::optional<std::uint64_t> percentile(double p) const;
    // Several percentiles with one sort (same order as `ps`; 0 for an
    // empty ring or a p out of range).
    [[nodiscard]] std::vector<std::uint64_t> percentiles(std::span<const double> ps) const;
    [[nodiscard]] Summary summary() const;
    // The non-empty buckets, in increasing order.
    [[nodiscard]] std::vector<Bucket> histogram() const;

    // The bucket a sample falls in, and a bucket's upper bound.
    static std::size_t bucket_of(std::uint64_t sample);
    static std::uint64_t bucket_le(std::size_t bucket);

private:
    std::array<std::uint64_t, kBuckets> buckets_{};
    std::vector<std::uint64_t> ring_; // grows to kRingSize, then wraps at next_
    std::size_t next_ = 0;
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0; // saturates
};

// "n=812 p50=2100 p90=5000 p99=8300 max=12000" (or "n=0").
std::string to_string(const LatencyStats::Summary &summary);

} // namespace redd
