#include "smartproduct/core/histogram.hpp"

#include <gtest/gtest.h>

#include <array>
#include <thread>
#include <vector>

namespace sp {
namespace {

constexpr std::array<double, 3> kBounds = {0.1, 1, 10};

TEST(Histogram, CountsEachValueInTheFirstBucketWhoseBoundIsNotBelowIt) {
  Histogram h(kBounds);
  for (double v : {0.05, 0.1, 0.5, 1.0, 7.0, 10.0, 11.0, 1e9}) h.observe(v);
  const auto s = h.snapshot();
  ASSERT_EQ(s.bounds.size(), 3u);
  ASSERT_EQ(s.counts.size(), 4u);
  // le semantics: a value equal to a bound is counted in that bound's bucket.
  EXPECT_EQ(s.counts[0], 2u);  // 0.05, 0.1
  EXPECT_EQ(s.counts[1], 4u);  // + 0.5, 1.0 (cumulative)
  EXPECT_EQ(s.counts[2], 6u);  // + 7, 10
  EXPECT_EQ(s.counts[3], 8u);  // + 11, 1e9 (+Inf)
  EXPECT_EQ(s.count(), 8u);
  EXPECT_DOUBLE_EQ(s.sum, 0.05 + 0.1 + 0.5 + 1.0 + 7.0 + 10.0 + 11.0 + 1e9);
}

TEST(Histogram, EmptyHasZeroCountsAndSum) {
  Histogram h(kBounds);
  const auto s = h.snapshot();
  EXPECT_EQ(s.counts, (std::vector<std::uint64_t>{0, 0, 0, 0}));
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.sum, 0.0);
}

TEST(Histogram, DurationsAreObservedInSeconds) {
  Histogram h;                                // the latency buckets
  h.observe(std::chrono::microseconds(300));  // 0.0003 s: the first bucket (0.5 ms)
  h.observe(std::chrono::milliseconds(20));   // the 25 ms bucket
  const auto s = h.snapshot();
  EXPECT_EQ(s.bounds.front(), 0.0005);
  EXPECT_EQ(s.counts[0], 1u);
  EXPECT_EQ(s.counts[4], 1u);  // 10 ms: still only the first
  EXPECT_EQ(s.counts[5], 2u);  // 25 ms
  EXPECT_NEAR(s.sum, 0.0203, 1e-12);
}

TEST(Histogram, SamplesWriteBoundsAsClientLibrariesDo) {
  Histogram h;  // the latency buckets
  std::vector<MetricSample> out;
  add_histogram(out, "x_seconds", "x", h);
  ASSERT_EQ(out.size(), kLatencyBucketsSeconds.size() + 3);
  EXPECT_EQ(out[0].labels, "le=\"0.0005\"");  // not 5e-04: queries match le as a string
  EXPECT_EQ(out[2].labels, "le=\"0.0025\"");
  EXPECT_EQ(out[10].labels, "le=\"1\"");
  EXPECT_EQ(out[13].labels, "le=\"10\"");
  EXPECT_EQ(out[14].labels, "le=\"+Inf\"");
  EXPECT_EQ(out[15].name, "x_seconds_sum");
  EXPECT_EQ(out[16].name, "x_seconds_count");
}

TEST(Histogram, ConcurrentObserversLoseNothing) {
  Histogram h(kBounds);
  constexpr int kThreads = 4;
  constexpr int kEach = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kEach; ++i) h.observe(t % 2 == 0 ? 0.5 : 5.0);
    });
  }
  for (auto& t : threads) t.join();
  const auto s = h.snapshot();
  EXPECT_EQ(s.count(), std::uint64_t{kThreads} * kEach);
  EXPECT_EQ(s.counts[0], 0u);
  EXPECT_EQ(s.counts[1], std::uint64_t{kThreads / 2} * kEach);
  EXPECT_DOUBLE_EQ(s.sum, (0.5 + 5.0) * (kThreads / 2) * kEach);
}

}  // namespace
}  // namespace sp
