// [backup] schedule parsing and when scheduled backups fall due.

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <string>

#include "smartproduct/backup/settings.hpp"

namespace sp::backup {
namespace {

using Kind = Schedule::Kind;
using std::chrono::seconds;

TEST(BackupSchedule, ParsesOffDailyAndEvery) {
  EXPECT_EQ(parse_schedule("off")->kind, Kind::kOff);

  auto daily = parse_schedule("daily 03:00");
  ASSERT_TRUE(daily);
  EXPECT_EQ(daily->kind, Kind::kDaily);
  EXPECT_EQ(daily->minute_of_day, 180);
  // [audit]'s form: a bare daily time.
  auto bare = parse_schedule("23:59");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->kind, Kind::kDaily);
  EXPECT_EQ(bare->minute_of_day, 23 * 60 + 59);

  for (auto [text, interval] :
       {std::pair{"every 2s", seconds(2)}, std::pair{"every 15m", seconds(900)},
        std::pair{"every 6h", seconds(21600)}, std::pair{"every 1d", seconds(86400)}}) {
    auto s = parse_schedule(text);
    ASSERT_TRUE(s) << text;
    EXPECT_EQ(s->kind, Kind::kEvery) << text;
    EXPECT_EQ(s->interval, interval) << text;
  }
}

TEST(BackupSchedule, RefusesEverythingElseWithTheForms) {
  for (const char* bad : {"", "daily", "daily 24:00", "daily 3:00", "03:60", "every", "every 6",
                          "every h", "every 0s", "every -1h", "every 6w", "every 6 h", "Every 6h",
                          "daily  03:00", "off ", "every 123456789h"}) {
    auto s = parse_schedule(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_NE(s.error().message.find("every N"), std::string::npos) << s.error().message;
  }
}

TEST(BackupSchedule, NextDue) {
  const std::int64_t day = 86400LL * 1000;
  const std::int64_t midnight = 20000 * day;  // a UTC midnight
  const Schedule daily{Kind::kDaily, 180, {}};
  EXPECT_EQ(next_due_ms(daily, midnight + 1000, std::nullopt, 0), midnight + 3 * 3600 * 1000);
  // At or after 03:00: tomorrow's.
  EXPECT_EQ(next_due_ms(daily, midnight + 3 * 3600 * 1000, std::nullopt, 0),
            midnight + day + 3 * 3600 * 1000);

  const Schedule every{Kind::kEvery, 0, seconds(6 * 3600)};
  // From the daemon's start until the first backup, then from each backup's start.
  EXPECT_EQ(next_due_ms(every, midnight + 5, std::nullopt, midnight), midnight + 6 * 3600 * 1000);
  EXPECT_EQ(next_due_ms(every, midnight + 5, midnight + 100, midnight),
            midnight + 100 + 6 * 3600 * 1000);

  EXPECT_EQ(next_due_ms(Schedule{}, midnight, std::nullopt, midnight), std::nullopt);
}

class BackupSettingsFile : public ::testing::Test {
 protected:
  BackupSettings read(const std::string& text, std::vector<std::string>& errors) {
    // One file per process and test: ctest runs each test as its own process, in parallel, and
    // the normal and sanitizer builds may run at once; a shared name let one overwrite another's.
    auto file = std::filesystem::path(::testing::TempDir()) /
                ("backup-settings-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".toml");
    std::ofstream(file) << text;
    auto doc = config::Document::parse(file, errors);
    std::filesystem::remove(file);
    EXPECT_TRUE(doc);
    auto section = doc->section("backup", errors);
    return read_backup_settings(section, "/srv/sp/data");
  }
};

TEST_F(BackupSettingsFile, DefaultsAndValues) {
  std::vector<std::string> errors;
  auto defaults = read("", errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(defaults.dir, std::filesystem::path("/srv/sp/data/backups"));
  EXPECT_EQ(defaults.schedule.kind, Kind::kDaily);
  EXPECT_EQ(defaults.schedule.minute_of_day, 180);
  EXPECT_EQ(defaults.keep, 7);

  // The template's empty dir means the default too.
  EXPECT_EQ(read("[backup]\ndir = \"\"\n", errors).dir,
            std::filesystem::path("/srv/sp/data/backups"));
  EXPECT_TRUE(errors.empty());

  auto set =
      read("[backup]\ndir = \"/var/backups/sp\"\nschedule = \"every 6h\"\nkeep = 3\n", errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(set.dir, std::filesystem::path("/var/backups/sp"));
  EXPECT_EQ(set.schedule.interval, seconds(21600));
  EXPECT_EQ(set.keep, 3);
}

TEST_F(BackupSettingsFile, ProblemsNameTheKey) {
  std::vector<std::string> errors;
  read("[backup]\nschedule = \"hourly\"\nkeep = 0\nkeeep = 2\n", errors);
  ASSERT_EQ(errors.size(), 3u);
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  EXPECT_NE(all.find("[backup] schedule"), std::string::npos) << all;
  EXPECT_NE(all.find("[backup] keep"), std::string::npos) << all;
  EXPECT_NE(all.find("keeep"), std::string::npos) << all;
}

}  // namespace
}  // namespace sp::backup
