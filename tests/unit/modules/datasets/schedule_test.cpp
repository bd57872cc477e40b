// Dataset schedules: rate(...) on multiples of the interval, cron(...) in UTC, "off", and the
// errors of malformed ones.

#include <gtest/gtest.h>

#include "smartproduct/datasets/service.hpp"

namespace sp::datasets {
namespace {

// 2026-12-03T10:17:30.000Z, a Thursday.
constexpr std::int64_t kNow = 1796293050000;
constexpr std::int64_t kMin = 60'000;
constexpr std::int64_t kHour = 60 * kMin;
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::int64_t kToday = kNow - (kNow % kDay);  // 2026-12-03T00:00Z

std::optional<std::int64_t> next(const char* text, std::int64_t after = kNow) {
  auto s = Schedule::parse(text);
  EXPECT_TRUE(s) << text << ": " << (s ? "" : s.error().message);
  return s ? s->next_after(after) : std::nullopt;
}

TEST(DatasetSchedule, RatesRunOnMultiplesOfTheirInterval) {
  EXPECT_EQ(next("rate(1 hour)"), kToday + 11 * kHour);
  EXPECT_EQ(next("rate(15 minutes)"), kToday + 10 * kHour + 30 * kMin);
  EXPECT_EQ(next("rate(1 day)"), kToday + kDay);
  EXPECT_EQ(next("  rate( 2   hours )  "), kToday + 12 * kHour);
  // Strictly after: on the boundary, the next one.
  EXPECT_EQ(next("rate(1 hour)", kToday + 11 * kHour), kToday + 12 * kHour);
}

TEST(DatasetSchedule, CronInUtc) {
  EXPECT_EQ(next("cron(0 3 * * *)"), kToday + kDay + 3 * kHour);
  EXPECT_EQ(next("cron(*/20 * * * *)"), kToday + 10 * kHour + 20 * kMin);
  EXPECT_EQ(next("cron(5 9-17 * * 1-5)"), kToday + 11 * kHour + 5 * kMin);
  // Sunday (0 or 7): 2026-12-06.
  EXPECT_EQ(next("cron(0 0 * * 0)"), kToday + 3 * kDay);
  EXPECT_EQ(next("cron(0 0 * * 7)"), kToday + 3 * kDay);
  // The first of next month, 2027-01-01T00:00Z.
  EXPECT_EQ(next("cron(0 0 1 * *)"), kToday + 29 * kDay);
  // Both day fields restricted: either matches (the 4th, a Friday, comes before Monday).
  EXPECT_EQ(next("cron(0 0 4 * 1)"), kToday + kDay);
  // A date that never comes: no next run.
  EXPECT_EQ(next("cron(0 0 30 2 *)"), std::nullopt);
  // Lists and steps from a start.
  EXPECT_EQ(next("cron(10,40 * * * *)"), kToday + 10 * kHour + 40 * kMin);
  EXPECT_EQ(next("cron(5/30 * * * *)"), kToday + 10 * kHour + 35 * kMin);
}

TEST(DatasetSchedule, OffAndErrors) {
  auto off = Schedule::parse("off");
  ASSERT_TRUE(off);
  EXPECT_TRUE(off->off());
  EXPECT_EQ(off->next_after(kNow), std::nullopt);
  for (const char* text :
       {"", "hourly", "rate(0 hours)", "rate(1 week)", "rate(1hour)", "rate(400 days)",
        "rate(-1 hours)", "cron(* * * *)", "cron(60 * * * *)", "cron(* 24 * * *)",
        "cron(* * 0 * *)", "cron(* * * 13 *)", "cron(* * * * 8)", "cron(5-1 * * * *)",
        "cron(*/0 * * * *)", "cron(a * * * *)", "rate(1 hour", "cron(0 0 * * *) x"}) {
    auto s = Schedule::parse(text);
    EXPECT_FALSE(s) << text;
    if (!s) {
      EXPECT_EQ(s.error().name, "InvalidParameter") << text;
    }
  }
}

}  // namespace
}  // namespace sp::datasets
