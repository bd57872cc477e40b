#pragma once
// Retention and space management of the telemetry database (issue 14 item 3). Every write runs as
// one bounded job on the database's writer, so ingest waits at most one batch.

#include <cstdint>

#include "smartproduct/core/result.hpp"

namespace sp::store {

enum class TelemetryTable { kRaw, kRollup1m, kRollup1h };

struct PruneStep {
  std::int64_t deleted = 0;
  /// True when this step reached the last device: the pass over the table is complete (unless it
  /// stopped on the row budget, in which case `deleted` equals it).
  bool pass_done = false;
  /// Time the step's SQL took on the writer (what ingest waited for, before the commit).
  std::int64_t elapsed_us = 0;
};

struct TelemetrySpace {
  std::int64_t file_bytes = 0;  // the database file on disk
  std::int64_t wal_bytes = 0;   // its write-ahead log on disk
  /// The database's pages as committed (page_count x page_size; includes what is still only in
  /// the WAL), and the free ones among them (reused before the file grows).
  std::int64_t page_bytes = 0;
  std::int64_t free_bytes = 0;
  bool incremental = false;  // reclaim() can shrink the file (auto_vacuum = INCREMENTAL)
  /// What the data takes: pages in use. Not the WAL, whose size follows checkpoints (it is reset
  /// every ~1000 pages and truncated to at most 64 MiB), not the amount of data.
  std::int64_t used_bytes() const { return page_bytes - free_bytes; }
};

/// True when the store could not write because the disk (or the database's page limit) is full:
/// the transaction rolled back, and a retry can succeed once space is freed.
inline bool is_disk_full(const Error& e) { return e.name == "DatabaseFull"; }

class TelemetryMaintenance {
 public:
  virtual ~TelemetryMaintenance() = default;
  /// Deletes at most `max_rows` rows of `table` older than `cutoff_ms` (raw: sample time t;
  /// rollups: bucket start) in one job, walking the devices in order from where the previous call
  /// stopped, through the (device, time) indexes: never a scan of the table.
  virtual Result<PruneStep> prune_older(TelemetryTable table, std::int64_t cutoff_ms,
                                        int max_rows) = 0;
  /// Deletes the `max_rows` oldest raw samples by arrival (the primary key), one job.
  virtual Result<PruneStep> prune_oldest_raw(int max_rows) = 0;
  /// Gives up to `pages` free pages back to the file system (PRAGMA incremental_vacuum), one job.
  /// Returns the pages released (0 when the file is not in incremental auto-vacuum mode).
  virtual Result<std::int64_t> reclaim(int pages) = 0;
  virtual Result<TelemetrySpace> space() = 0;
};

}  // namespace sp::store
