#pragma once
// Telemetry retention and the disk guard (issue 14 item 3). Plain C++: the store is behind
// store::TelemetryMaintenance and the file system's free space behind a probe, so tests drive it
// with an in-memory clock and a fake probe. The module runs run_retention() and check_disk() on a
// thread of its own; every write is one bounded job on the telemetry database's writer.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/store/telemetry_maintenance.hpp"

namespace sp::telemetry {

/// The disk guard paused telemetry intake (with the reason) or resumed it; published on the event
/// bus. The events module turns it into a system event (an alert) for every administrator.
struct TelemetryIntakeChanged {
  bool paused = false;
  std::string reason;
  int64_t at_ms = 0;
};

/// [telemetry] retention and disk guard keys.
struct RetentionConfig {
  /// Days kept; 0 keeps forever. Raw samples by sample time, rollups by bucket start.
  int raw_retention_days = 30;
  int rollup_1m_retention_days = 90;
  int rollup_1h_retention_days = 730;
  /// How often a retention pass runs, and the most rows one job deletes.
  std::int64_t retention_interval_ms = 60'000;
  int retention_batch_rows = 500;
  /// Free pages given back per job after pruning (PRAGMA incremental_vacuum(N)).
  int vacuum_step_pages = 256;
  /// Disk guard: the telemetry database (file + WAL - free pages) may use at most this (0: no
  /// limit), and the data directory's file system must keep this much free (0: no check).
  std::int64_t max_disk_bytes = 0;
  std::int64_t min_free_bytes = 1ll << 30;
  std::int64_t disk_check_interval_ms = 5'000;
  /// Oldest raw rows the guard deletes per check before it refuses intake.
  int guard_prune_batches = 20;
};

/// Counters for metrics (monotonic) and the latest measurements (gauges).
struct RetentionStats {
  std::atomic<std::uint64_t> pruned_raw{0}, pruned_1m{0}, pruned_1h{0}, guard_pruned{0};
  std::atomic<std::uint64_t> batches{0}, passes{0}, reclaimed_pages{0}, failures{0};
  std::atomic<std::int64_t> longest_batch_us{0};
  std::atomic<std::int64_t> used_bytes{0}, file_bytes{0}, fs_free_bytes{-1};
};

class RetentionService {
 public:
  /// Free bytes of the data directory's file system (statvfs), nullopt when unknown.
  using FreeSpaceProbe = std::function<std::optional<std::int64_t>()>;
  /// Called on every change of the intake state: paused with the reason, or resumed ("").
  using IntakeListener = std::function<void(bool paused, const std::string& reason)>;

  RetentionService(RetentionConfig config, store::TelemetryMaintenance& store, const Clock& clock,
                   FreeSpaceProbe free_space);
  ~RetentionService();

  /// One pass: every table down to its cut-off in jobs of at most retention_batch_rows rows, then
  /// the freed pages back to the file system in vacuum_step_pages steps. Rows deleted.
  Result<std::int64_t> run_retention();
  /// Measures; while over a limit deletes the oldest raw samples (guard_prune_batches jobs at
  /// most), then pauses intake if still over, or resumes it when back under. True when paused.
  bool check_disk();
  /// The store could not write for lack of space (SQLITE_FULL): pause until check_disk() finds
  /// room again.
  void report_full();

  bool intake_paused() const { return paused_.load(); }
  std::string pause_reason() const;
  void on_intake_change(IntakeListener listener) { listener_ = std::move(listener); }
  const RetentionStats& stats() const { return stats_; }
  const RetentionConfig& config() const { return config_; }

  /// A thread running run_retention() every retention_interval_ms and check_disk() every
  /// disk_check_interval_ms (check first, at once). stop() joins it.
  void start();
  void stop();

 private:
  Result<std::int64_t> prune_table(store::TelemetryTable table, int days);
  void reclaim();
  void set_paused(bool paused, std::string reason);
  void note_batch(const store::PruneStep& step);

  RetentionConfig config_;
  store::TelemetryMaintenance& store_;
  const Clock& clock_;
  FreeSpaceProbe free_space_;
  IntakeListener listener_;
  RetentionStats stats_;
  std::atomic<bool> paused_{false};
  std::atomic<bool> full_{false};
  mutable std::mutex reason_mutex_;
  std::string reason_;

  std::mutex run_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sp::telemetry
