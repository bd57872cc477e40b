#pragma once
// A Prometheus histogram (fixed buckets) that hot paths may observe from any thread without a lock:
// one relaxed atomic increment for the bucket and one atomic add for the sum. Only a scrape reads
// all buckets, and it tolerates observations landing while it reads (each bucket and the sum are
// read once; the count is the sum of the buckets, so `_count` always equals the `+Inf` bucket).
// Cost per observe against a plain atomic increment: tests/bench/metrics.

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "smartproduct/core/metrics.hpp"

namespace sp {

/// Upper bounds in seconds for request and commit latencies: 0.5 ms to 10 s.
inline constexpr std::array<double, 14> kLatencyBucketsSeconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/// What a scrape reads: cumulative counts per upper bound, then the +Inf bucket.
struct HistogramSnapshot {
  std::span<const double> bounds;     // ascending upper bounds, without +Inf
  std::vector<std::uint64_t> counts;  // cumulative; bounds.size() + 1 entries (last: +Inf)
  double sum = 0;
  std::uint64_t count() const { return counts.empty() ? 0 : counts.back(); }
};

class Histogram {
 public:
  /// `bounds`: ascending upper bounds that outlive the histogram (usually a constexpr array).
  explicit Histogram(std::span<const double> bounds = kLatencyBucketsSeconds)
      : bounds_(bounds),
        buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  /// Counts `value` in the first bucket whose upper bound is >= value (le semantics).
  void observe(double value) noexcept {
    const auto index = static_cast<std::size_t>(
        std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    buckets_[index].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }
  /// Observes a duration in seconds.
  void observe(std::chrono::nanoseconds duration) noexcept {
    observe(std::chrono::duration<double>(duration).count());
  }

  HistogramSnapshot snapshot() const {
    HistogramSnapshot s;
    s.bounds = bounds_;
    s.counts.resize(bounds_.size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      running += buckets_[i].load(std::memory_order_relaxed);
      s.counts[i] = running;
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // not cumulative; last: above all bounds
  std::atomic<double> sum_{0};
};

/// Adds a snapshot of `h` as samples of type "histogram": name_bucket{labels,le="..."} (cumulative,
/// the last one le="+Inf"), name_sum and name_count. The renderer writes one HELP/TYPE for the
/// family `name`.
inline void add_histogram(std::vector<MetricSample>& out, const std::string& name,
                          const std::string& help, const Histogram& h,
                          const std::string& labels = {}) {
  const auto s = h.snapshot();
  const std::string prefix = labels.empty() ? std::string() : labels + ",";
  for (std::size_t i = 0; i < s.counts.size(); ++i) {
    std::string le = "+Inf";
    if (i < s.bounds.size()) {
      char buf[32];
      // Shortest exact form, fixed notation where %g would use it (0.0005, not 5e-04): queries
      // match le as a string, and client libraries write it this way.
      const auto r = std::to_chars(buf, buf + sizeof buf, s.bounds[i], std::chars_format::general);
      le.assign(buf, r.ptr);
    }
    out.push_back({name + "_bucket", prefix + "le=\"" + le + "\"", help, "histogram",
                   static_cast<double>(s.counts[i])});
  }
  out.push_back({name + "_sum", labels, help, "histogram", s.sum});
  out.push_back({name + "_count", labels, help, "histogram", static_cast<double>(s.count())});
}

}  // namespace sp
