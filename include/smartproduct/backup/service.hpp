#pragma once
// The daemon's backups: archives (archive.hpp) written into [backup] dir on request
// (POST /api/admin/backups) and on a schedule, one at a time, with retention. The folder is the
// record of completed backups: each is `smartproduct-<id>.tar.gz`, where the id is the UTC start
// time (YYYYMMDD-HHMMSS-mmm), so ids map to files this service wrote and nothing else; running and
// failed backups are remembered in memory until the daemon stops.

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/backup/archive.hpp"
#include "smartproduct/backup/settings.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::backup {

struct BackupRecord {
  std::string id;
  std::string file;                  ///< archive file name inside [backup] dir
  std::string status;                ///< running | completed | failed
  std::string trigger;               ///< manual | scheduled | found (on disk at start)
  std::int64_t created_ms = 0;       ///< when it started
  std::uintmax_t size = 0;           ///< bytes of the archive (completed)
  std::optional<double> duration_s;  ///< unknown for archives found at start
  std::string error;                 ///< failed: why
};

/// "YYYYMMDD-HHMMSS-mmm" (UTC) of `epoch_ms`.
std::string backup_id(std::int64_t epoch_ms);
/// The start time of a well-formed id, or nullopt when `text` is not one.
std::optional<std::int64_t> backup_id_time_ms(std::string_view text);
/// "smartproduct-<id>.tar.gz"
std::string archive_name(std::string_view id);

/// The ids retention deletes: all but the `keep` newest (ids sort by time).
std::vector<std::string> beyond_retention(std::vector<std::string> completed_ids, std::size_t keep);

struct BackupStats {
  std::int64_t completed_total = 0;
  std::int64_t failures_total = 0;
  std::optional<std::int64_t> last_success_ms;  ///< when the last successful backup finished
  double last_duration_s = 0;
  std::uintmax_t last_size = 0;
};

class BackupService {
 public:
  /// `sources` is the instance's layout, or why it cannot be backed up (then every backup fails
  /// with that reason).
  BackupService(BackupSettings settings, Result<InstanceSources> sources,
                const DatabaseSnapshots& databases, const Clock& clock);

  /// Creates the folder (0700), removes temporary folders a crash left, and lists the archives
  /// already there. Call once before anything else.
  Result<void> open();

  /// Registers a running backup: 409 BackupRunning when one runs, 422 BackupFailed when the
  /// instance cannot be backed up. execute() does the work.
  Result<BackupRecord> start(std::string trigger);
  /// Writes the archive of a backup start() registered, then applies retention. Blocking.
  BackupRecord execute(const std::string& id);

  /// Newest first; at most `limit`, after the id `after` when given.
  std::vector<BackupRecord> list(std::size_t limit, const std::optional<std::string>& after) const;
  Result<BackupRecord> get(std::string_view id) const;
  /// The archive of a completed backup (404 BackupNotFound otherwise, 409 while it runs).
  Result<std::filesystem::path> archive(std::string_view id) const;
  /// Deletes a completed or failed backup (409 while it runs).
  Result<void> remove(std::string_view id);

  /// Why this instance cannot be backed up (its state lies outside its directory), or nullopt.
  std::optional<std::string> unsupported() const;

  BackupStats stats() const;
  std::optional<std::int64_t> last_start_ms() const;
  const BackupSettings& settings() const { return settings_; }

 private:
  void apply_retention_locked();

  BackupSettings settings_;
  Result<InstanceSources> sources_;
  const DatabaseSnapshots& databases_;
  const Clock& clock_;

  mutable std::mutex mutex_;
  std::map<std::string, BackupRecord> records_;  // by id = by time
  std::optional<std::string> running_;
  std::optional<std::int64_t> last_start_ms_;
  BackupStats stats_;
};

}  // namespace sp::backup
