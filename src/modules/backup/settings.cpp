#include "smartproduct/backup/settings.hpp"

#include <cctype>
#include <limits>
#include <string>

#include "smartproduct/audit/service.hpp"

namespace sp::backup {

namespace {

tl::unexpected<Error> schedule_error() {
  return fail(ErrorKind::kUnprocessable, "ConfigError",
              "must be \"off\", \"daily HH:MM\" (UTC) or \"every N\" with a unit s, m, h or d "
              "(e.g. \"every 6h\")");
}

}  // namespace

Result<Schedule> parse_schedule(std::string_view text) {
  if (text == "off") return Schedule{};
  constexpr std::string_view kDaily = "daily ";
  constexpr std::string_view kEvery = "every ";
  if (text.starts_with(kEvery)) {
    auto amount = text.substr(kEvery.size());
    if (amount.size() < 2 || amount.size() > 8) return schedule_error();
    std::int64_t n = 0;
    for (char c : amount.substr(0, amount.size() - 1)) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return schedule_error();
      n = n * 10 + (c - '0');
    }
    std::int64_t unit = 0;
    switch (amount.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return schedule_error();
    }
    if (n < 1) return schedule_error();
    return Schedule{Schedule::Kind::kEvery, 0, std::chrono::seconds(n * unit)};
  }
  // The daily form is [audit]'s: "HH:MM" UTC, read by its parser.
  auto time = text.starts_with(kDaily) ? text.substr(kDaily.size()) : text;
  auto minute = audit::parse_schedule(time);
  if (!minute || !*minute) return schedule_error();
  return Schedule{Schedule::Kind::kDaily, **minute, {}};
}

std::optional<std::int64_t> next_due_ms(const Schedule& schedule, std::int64_t now_ms,
                                        std::optional<std::int64_t> last_start_ms,
                                        std::int64_t since_ms) {
  switch (schedule.kind) {
    case Schedule::Kind::kOff:
      return std::nullopt;
    case Schedule::Kind::kDaily:
      return audit::next_scheduled_ms(now_ms, schedule.minute_of_day);
    case Schedule::Kind::kEvery:
      return last_start_ms.value_or(since_ms) +
             std::chrono::duration_cast<std::chrono::milliseconds>(schedule.interval).count();
  }
  return std::nullopt;
}

BackupSettings read_backup_settings(config::Section& section,
                                    const std::filesystem::path& data_dir) {
  BackupSettings settings;
  settings.dir = section.path("dir", "");
  if (settings.dir.empty()) settings.dir = data_dir / "backups";
  auto schedule = parse_schedule(section.string("schedule", "daily 03:00"));
  if (schedule) {
    settings.schedule = *schedule;
  } else {
    section.error("schedule", schedule.error().message);
  }
  settings.keep = static_cast<int>(section.integer("keep", 7, 1, 10000));
  section.finish();
  return settings;
}

}  // namespace sp::backup
