// The statistical baseline: log buckets that resolve a value within 12.5 %, percentiles over the
// last 7 days (older days fall off), and a stored form that refuses anything it did not write.

#include <gtest/gtest.h>

#include "smartproduct/detect/baseline.hpp"

namespace sp::detect {
namespace {

TEST(Baseline, BucketsAreExactBelowSixteenAndWithinAnEighthAbove) {
  for (int v = 0; v < 16; ++v) {
    EXPECT_EQ(Baseline::bucket_of(v), v);
    EXPECT_EQ(Baseline::upper_edge(v), v);
  }
  int last = 15;
  for (double v = 16; v < 1e12; v = v * 1.01 + 1) {
    const int b = Baseline::bucket_of(v);
    EXPECT_GE(b, last);
    last = b;
    EXPECT_LT(b, Baseline::kBuckets);
    EXPECT_GE(Baseline::upper_edge(b), v - 1) << v;
    EXPECT_LE(Baseline::upper_edge(b), v * 1.125 + 1) << v;
  }
  EXPECT_EQ(Baseline::bucket_of(-3), 0);
  EXPECT_EQ(Baseline::bucket_of(1e30), Baseline::kBuckets - 1);
}

TEST(Baseline, PercentilesOfTheLastSevenDays) {
  Baseline b;
  EXPECT_FALSE(b.percentile(99, 100));
  for (int i = 0; i < 95; ++i) b.add(10, 100);
  for (int i = 0; i < 5; ++i) b.add(1000, 100);
  EXPECT_EQ(b.samples(100), 100u);
  EXPECT_EQ(*b.percentile(90, 100), 10);
  const double p99 = *b.percentile(99, 100);
  EXPECT_GE(p99, 1000);
  EXPECT_LE(p99, 1125);
  // Day 100 counts up to day 107; on day 108 it has fallen off.
  EXPECT_EQ(b.samples(107), 100u);
  EXPECT_EQ(b.samples(108), 0u);
  b.add(3, 108);
  EXPECT_EQ(b.samples(108), 1u);
  EXPECT_EQ(*b.percentile(99, 108), 3);
}

TEST(Baseline, StoredFormRoundTripsAndRefusesGarbage) {
  Baseline b;
  for (int d = 0; d < 10; ++d) {
    for (int i = 0; i < 20; ++i) b.add(i * (d + 1), 50 + d);
  }
  const std::string bytes = b.to_bytes();
  auto back = Baseline::from_bytes(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_bytes(), bytes);
  EXPECT_EQ(back->samples(59), b.samples(59));
  EXPECT_EQ(*back->percentile(90, 59), *b.percentile(90, 59));

  EXPECT_FALSE(Baseline::from_bytes(""));
  EXPECT_FALSE(Baseline::from_bytes("XX"));
  EXPECT_FALSE(Baseline::from_bytes(bytes.substr(0, bytes.size() - 1)));
  EXPECT_FALSE(Baseline::from_bytes(bytes + "x"));
  std::string too_many = bytes;
  too_many[2] = 9;  // more days than it keeps
  EXPECT_FALSE(Baseline::from_bytes(too_many));
}

}  // namespace
}  // namespace sp::detect
