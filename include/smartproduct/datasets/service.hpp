#pragma once
// Datasets (issue 14 item 4, the seed's smartproduct_dataset done better): admin-defined queries
// over the stored telemetry (query.hpp), run on a schedule or on demand. Each run reads only the
// telemetry rows stored since the previous successful run and writes them as one CSV or JSON Lines
// file under the datasets directory, kept for the dataset's retention. No HTTP and no SQLite here:
// the module adapts the routes, the store the SQL.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/store/dataset_repository.hpp"

namespace sp::datasets {

/// A schedule: "rate(N minute[s]|hour[s]|day[s])" (N >= 1; at multiples of the interval since the
/// epoch, UTC: "rate(1 hour)" runs on the hour), "cron(M H DOM MON DOW)" (five fields, UTC, each
/// "*", a number, a range a-b, a list a,b and a step */n or a-b/n; DOW 0-6 = Sunday-Saturday, 7 is
/// Sunday too; as in cron, when both DOM and DOW are restricted either may match), or "off".
class Schedule {
 public:
  static Result<Schedule> parse(std::string_view text);
  /// The first run time strictly after `after_ms`; nullopt for "off" (or a cron that never
  /// matches within 5 years, e.g. February 30).
  std::optional<std::int64_t> next_after(std::int64_t after_ms) const;
  bool off() const { return kind_ == Kind::kOff; }

 private:
  enum class Kind { kOff, kRate, kCron };
  Kind kind_ = Kind::kOff;
  std::int64_t rate_ms_ = 0;
  // cron: allowed values as bit sets
  std::uint64_t minutes_ = 0;
  std::uint32_t hours_ = 0;
  std::uint32_t days_ = 0;  // bit d for day d (1..31)
  std::uint16_t months_ = 0;
  std::uint8_t weekdays_ = 0;
  bool dom_any_ = true;
  bool dow_any_ = true;
};

struct DatasetsSettings {
  /// Where run files go (default: <data_dir>/datasets).
  std::filesystem::path dir;
  /// retentionDays of a dataset created without one.
  int default_retention_days = 30;
  int max_datasets = 100;
  /// A run is stopped (and fails, keeping nothing) after this long, or when its file would grow
  /// beyond max_run_bytes.
  std::int64_t max_run_seconds = 3600;
  std::int64_t max_run_bytes = std::int64_t{10} << 30;
};

/// Reads [datasets] (dir, retention_days, max_datasets, max_run_seconds, max_run_bytes) and
/// finishes the section: the daemon's module and smartproductctl read it the same way.
DatasetsSettings read_datasets_settings(config::Section& section, const config::DaemonConfig& cfg);

/// What the API may set on a dataset; unset fields keep their value (update) or the default
/// (create).
struct DatasetChange {
  std::optional<std::string> query;
  std::optional<std::string> schedule;
  std::optional<std::string> format;
  std::optional<int> retention_days;
  std::optional<bool> enabled;
};

class DatasetService {
 public:
  DatasetService(DatasetsSettings settings, store::DatasetRepository& repo,
                 store::DatasetSource& source, const Clock& clock);

  Result<std::vector<store::Dataset>> list();
  Result<store::Dataset> get(const std::string& name);
  /// 422 InvalidDatasetQuery (with the column), InvalidParameter (name, schedule, format,
  /// retention), 409 DatasetExists, 422 DatasetLimitReached.
  Result<store::Dataset> create(const std::string& name, const DatasetChange& change);
  Result<store::Dataset> update(const std::string& name, const DatasetChange& change);
  /// Deletes the dataset, its runs and their files.
  Result<void> remove(const std::string& name);

  /// Records a new run (409 DatasetRunRunning when one is running); execute() does the work.
  Result<std::int64_t> start_run(const std::string& name, const std::string& trigger);
  /// Runs the recorded run: reads the new window, writes the file, records the outcome. The run
  /// row says failed (with why) when it fails.
  Result<store::DatasetRun> execute(const std::string& name, std::int64_t run_id);

  Result<std::vector<store::DatasetRun>> runs(const std::string& name, int limit,
                                              std::optional<std::int64_t> before);
  Result<store::DatasetRun> run(const std::string& name, std::int64_t id);
  Result<std::optional<store::DatasetRun>> last_run(const std::string& name);
  /// The file of a succeeded run (404 DatasetRunNotFound otherwise).
  Result<std::filesystem::path> run_file(const std::string& name, std::int64_t id);

  /// Marks runs a dead process left running as failed; sets next_run_at of datasets that have
  /// none yet (a new instance's default dataset).
  Result<void> recover();
  /// Datasets whose next_run_at has come (enabled, schedule not off).
  Result<std::vector<std::string>> due(std::int64_t now_ms);
  /// Moves a dataset's next_run_at past now (after a scheduled run, or a missed one).
  Result<void> reschedule(const std::string& name);
  /// The earliest next_run_at of any enabled dataset.
  Result<std::optional<std::int64_t>> next_due();
  /// Deletes runs (and files) past their dataset's retention, and files no run refers to.
  /// Returns how many files were deleted.
  Result<int> apply_retention();

  const DatasetsSettings& settings() const { return settings_; }

 private:
  Result<void> validate(const store::Dataset& d);
  std::filesystem::path path_of(const std::string& relative) const;

  DatasetsSettings settings_;
  store::DatasetRepository& repo_;
  store::DatasetSource& source_;
  const Clock& clock_;
};

/// ^[A-Za-z0-9_-]{1,64}$
bool valid_dataset_name(std::string_view name);

}  // namespace sp::datasets
