#pragma once
// What a device's windows of one metric usually measure: the statistical rules' baseline. A
// log-scaled histogram per UTC day, for today and the 7 days before it, so the percentile covers
// the device's own last 7 days and older days fall off whole. Memory is bounded per device and
// metric (at most 8 days × kBuckets counters, a few dozen in practice: a device's values cluster),
// and a value is resolved to within 1/8 of its power of two (12.5 %).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sp::detect {

class Baseline {
 public:
  static constexpr int kDays = 8;  // today + the 7 days before
  /// Values 0..15 exactly, then 8 buckets per power of two up to 2^40.
  static constexpr int kBuckets = 16 + 8 * (40 - 4);

  /// Adds one window's value, learned on `day` (epoch ms / 86,400,000).
  void add(double value, std::int64_t day);
  /// Windows learned in `today`'s 7-day span.
  std::uint64_t samples(std::int64_t today) const;
  /// The value below which `percentile` % of the span's windows fell (the upper edge of the
  /// bucket holding that rank: a conservative threshold); nullopt without samples.
  std::optional<double> percentile(int percentile, std::int64_t today) const;

  /// Compact binary form for the store; from_bytes refuses anything it did not write.
  std::string to_bytes() const;
  static std::optional<Baseline> from_bytes(std::string_view bytes);

  static int bucket_of(double value);
  static double upper_edge(int bucket);

 private:
  struct Day {
    std::int64_t day = 0;
    std::vector<std::pair<std::uint16_t, std::uint32_t>> counts;  // by bucket, sorted
  };
  void drop_before(std::int64_t first_day);
  std::vector<Day> days_;  // oldest first, at most kDays
};

}  // namespace sp::detect
