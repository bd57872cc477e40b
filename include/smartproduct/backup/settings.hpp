#pragma once
// [backup]: where the daemon writes its backups, when, and how many it keeps.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::backup {

/// When the daemon backs up by itself.
struct Schedule {
  enum class Kind { kOff, kDaily, kEvery };
  Kind kind = Kind::kOff;
  int minute_of_day = 0;             ///< kDaily: UTC minute of the day
  std::chrono::seconds interval{0};  ///< kEvery
};

/// "off"; "daily HH:MM" or "HH:MM" (UTC, the daily form of [audit] schedule, read by the same
/// parser); "every N" + s|m|h|d, e.g. "every 6h" (at least one second; seconds are for tests).
Result<Schedule> parse_schedule(std::string_view text);

/// When the next scheduled backup is due (epoch ms), or nullopt when the schedule is off.
/// kDaily: the next HH:MM strictly after `now_ms`. kEvery: `interval` after the last backup's
/// start, or after `since_ms` (when the daemon started) when there was none since.
std::optional<std::int64_t> next_due_ms(const Schedule& schedule, std::int64_t now_ms,
                                        std::optional<std::int64_t> last_start_ms,
                                        std::int64_t since_ms);

struct BackupSettings {
  std::filesystem::path dir;  ///< default <data dir>/backups
  Schedule schedule{Schedule::Kind::kDaily, 3 * 60, {}};
  int keep = 7;  ///< archives kept; the oldest beyond this are deleted after a successful backup
};

/// Reads and validates [backup]. Finishes the section.
BackupSettings read_backup_settings(config::Section& section,
                                    const std::filesystem::path& data_dir);

}  // namespace sp::backup
