#include "stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace redd {

std::size_t LatencyStats::bucket_of(std::uint64_t sample) {
    if (sample <= 1) {
        return 0;
    }
    // 2^(i-1) < v <= 2^i  <=>  i = bit_width(v - 1).
    return std::min<std::size_t>(static_cast<std::size_t>(std::bit_width(sample - 1)),
                                 kBuckets - 1);
}

std::uint64_t LatencyStats::bucket_le(std::size_t bucket) {
    if (bucket >= kBuckets - 1) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    return std::uint64_t{1} << bucket;
}

void LatencyStats::add(std::uint64_t sample) {
    ++buckets_.at(bucket_of(sample));
    ++count_;
    max_ = std::max(max_, sample);
    sum_ = sample > std::numeric_limits<std::uint64_t>::max() - sum_
               ? std::numeric_limits<std::uint64_t>::max()
               : sum_ + sample;
    if (ring_.size() < kRingSize) {
        ring_.push_back(sample);
    } else {
        ring_.at(next_) = sample;
        next_ = (next_ + 1) % kRingSize;
    }
}

void LatencyStats::reset() {
    buckets_.fill(0);
    ring_.clear();
    ring_.shrink_to_fit();
    next_ = 0;
    count_ = 0;
    max_ = 0;
    sum_ = 0;
}

namespace {

bool valid_percent(double p) {
    return std::isfinite(p) && p > 0.0 && p <= 100.0;
}

// Nearest rank in a sorted, non-empty vector.
std::uint64_t rank(const std::vector<std::uint64_t> &sorted, double p) {
    const auto n = static_cast<double>(sorted.size());
    auto r = static_cast<std::size_t>(std::ceil(p / 100.0 * n));
    r = std::clamp<std::size_t>(r, 1, sorted.size());
    return sorted.at(r - 1);
}

} // namespace

std::optional<std::uint64_t> LatencyStats::percentile(double p) const {
    if (ring_.empty() || !valid_percent(p)) {
        return std::nullopt;
    }
    const std::array ps{p};
    return percentiles(ps).front();
}

std::vector<std::uint64_t> LatencyStats::percentiles(std::span<const double> ps) const {
    std::vector<std::uint64_t> out(ps.size(), 0);
    if (ring_.empty()) {
        return out;
    }
    std::vector<std::uint64_t> sorted = ring_;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < ps.size(); ++i) {
        if (valid_percent(ps[i])) {
            out[i] = rank(sorted, ps[i]);
        }
    }
    return out;
}

LatencyStats::Summary LatencyStats::summary() const {
    Summary s;
    s.count = count_;
    s.max = max_;
    if (count_ != 0) {
        s.mean = static_cast<double>(sum_) / static_cast<double>(count_);
    }
    static constexpr std::array kPs{50.0, 90.0, 99.0};
    const auto p = percentiles(kPs);
    s.p50 = p[0];
    s.p90 = p[1];
    s.p99 = p[2];
    return s;
}

std::vector<LatencyStats::Bucket> LatencyStats::histogram() const {
    std::vector<Bucket> out;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        if (buckets_.at(i) != 0) {
            out.push_back(Bucket{bucket_le(i), buckets_.at(i)});
        }
    }
    return out;
}

std::string to_string(const LatencyStats::Summary &summary) {
    if (summary.count == 0) {
        return "n=0";
    }
    return "n=" + std::to_string(summary.count) + " p50=" + std::to_string(summary.p50) +
           " p90=" + std::to_string(summary.p90) + " p99=" + std::to_string(summary.p99) +
           " max=" + std::to_string(summary.max);
}

} // namespace redd
