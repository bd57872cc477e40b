// Retention of telemetry.db in bounded jobs on the writer. Pruning walks the devices through the
// (device, time) indexes that already exist (telemetry_device_t, the rollups' primary keys): the
// next device is one index seek, its old rows one range of the index. No statement here scans a
// table, so a batch costs the same on a 10-row and a 100-million-row database (tested with
// EXPLAIN QUERY PLAN in telemetry_maintenance_test.cpp).

#include <chrono>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "smartproduct/store/telemetry_maintenance.hpp"
#include "store/sqlite/repositories/maintenance.hpp"
#include "store/sqlite/repositories/statement_cache.hpp"

namespace sp::sqlite {
namespace {

using store::PruneStep;
using store::TelemetryTable;

// Devices visited per job when they have nothing to prune: bounds a job's time on a large fleet.
constexpr int kMaxDevicesPerStep = 2000;
// Neither statement ever deletes the newest row (the table's largest id): SQLite gives a new row
// max(id) + 1, so keeping that row keeps ids growing forever, and a dataset's watermark (the last
// id a run read) never meets a reused id.
constexpr const char* kPruneOldestRaw =
    "DELETE FROM telemetry WHERE id < (SELECT min(id) FROM telemetry) + ?1 "
    "AND id < (SELECT max(id) FROM telemetry)";

struct TableSql {
  const char* next_device;
  const char* prune_device;
};

TableSql table_sql(TelemetryTable table) {
  switch (table) {
    case TelemetryTable::kRaw:
      return {"SELECT device_id FROM telemetry WHERE device_id > ?1 ORDER BY device_id LIMIT 1",
              "DELETE FROM telemetry WHERE id IN (SELECT id FROM telemetry WHERE device_id = ?1 "
              "AND t < ?2 AND id < (SELECT max(id) FROM telemetry) ORDER BY t LIMIT ?3)"};
    case TelemetryTable::kRollup1m:
      return {
          "SELECT device_id FROM telemetry_rollup_1m WHERE device_id > ?1 ORDER BY device_id "
          "LIMIT 1",
          "DELETE FROM telemetry_rollup_1m WHERE device_id = ?1 AND (bucket, field, owner_id) "
          "IN (SELECT bucket, field, owner_id FROM telemetry_rollup_1m WHERE device_id = ?1 "
          "AND bucket < ?2 ORDER BY bucket LIMIT ?3)"};
    case TelemetryTable::kRollup1h:
      return {
          "SELECT device_id FROM telemetry_rollup_1h WHERE device_id > ?1 ORDER BY device_id "
          "LIMIT 1",
          "DELETE FROM telemetry_rollup_1h WHERE device_id = ?1 AND (bucket, field, owner_id) "
          "IN (SELECT bucket, field, owner_id FROM telemetry_rollup_1h WHERE device_id = ?1 "
          "AND bucket < ?2 ORDER BY bucket LIMIT ?3)"};
  }
  return table_sql(TelemetryTable::kRaw);
}

std::int64_t micros_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

class SqliteTelemetryMaintenance final : public store::TelemetryMaintenance {
 public:
  explicit SqliteTelemetryMaintenance(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<PruneStep> prune_older(TelemetryTable table, std::int64_t cutoff_ms,
                                int max_rows) override {
    PruneStep step;
    // The cursor is the last device whose old rows are all gone; touched only inside the job.
    std::string& cursor = cursors_[static_cast<int>(table)];
    const TableSql sql = table_sql(table);
    auto done = db_->write([&](Connection& conn) -> Result<void> {
      const auto start = std::chrono::steady_clock::now();
      std::int64_t remaining = max_rows;
      for (int visited = 0; remaining > 0 && visited < kMaxDevicesPerStep; ++visited) {
        auto device = conn.query_value<std::string>(sql.next_device, cursor);
        if (!device) return tl::unexpected(device.error());
        if (!*device) {
          cursor.clear();
          step.pass_done = true;
          break;
        }
        if (auto r = conn.execute(sql.prune_device, **device, cutoff_ms, remaining); !r) return r;
        const std::int64_t n = conn.changes();
        step.deleted += n;
        remaining -= n;
        // A device that filled the budget may have more: the next step starts with it again.
        if (remaining > 0) cursor = **device;
      }
      step.elapsed_us = micros_since(start);
      return {};
    });
    if (!done) return tl::unexpected(done.error());
    return step;
  }

  Result<PruneStep> prune_oldest_raw(int max_rows) override {
    PruneStep step;
    auto done = db_->write([&](Connection& conn) -> Result<void> {
      const auto start = std::chrono::steady_clock::now();
      auto r = conn.execute(kPruneOldestRaw, max_rows);
      if (!r) return r;
      step.deleted = conn.changes();
      step.pass_done = step.deleted < max_rows;
      step.elapsed_us = micros_since(start);
      return {};
    });
    if (!done) return tl::unexpected(done.error());
    return step;
  }

  Result<std::int64_t> reclaim(int pages) override {
    std::int64_t released = 0;
    auto done = db_->write([&](Connection& conn) -> Result<void> {
      auto mode = conn.query_value<std::int64_t>("PRAGMA auto_vacuum");
      if (!mode) return tl::unexpected(mode.error());
      if (mode->value_or(0) != 2) return {};  // not incremental: free pages are only reused
      auto before = conn.query_value<std::int64_t>("PRAGMA freelist_count");
      if (!before) return tl::unexpected(before.error());
      // The page count is an integer we format ourselves; PRAGMA takes no bound parameters.
      if (auto r = conn.exec("PRAGMA incremental_vacuum(" + std::to_string(pages) + ")"); !r) {
        return r;
      }
      auto after = conn.query_value<std::int64_t>("PRAGMA freelist_count");
      if (!after) return tl::unexpected(after.error());
      released = before->value_or(0) - after->value_or(0);
      return {};
    });
    if (!done) return tl::unexpected(done.error());
    return released;
  }

  Result<store::TelemetrySpace> space() override {
    store::TelemetrySpace s;
    std::error_code ec;
    const auto& path = db_->path();
    const auto file = std::filesystem::file_size(path, ec);
    if (!ec) s.file_bytes = static_cast<std::int64_t>(file);
    const auto wal = std::filesystem::file_size(path.string() + "-wal", ec);
    if (!ec) s.wal_bytes = static_cast<std::int64_t>(wal);
    auto pages =
        db_->read([](Connection& conn) -> Result<std::tuple<std::int64_t, std::int64_t, bool>> {
          auto count = conn.query_value<std::int64_t>("PRAGMA page_count");
          if (!count) return tl::unexpected(count.error());
          auto free = conn.query_value<std::int64_t>("PRAGMA freelist_count");
          if (!free) return tl::unexpected(free.error());
          auto size = conn.query_value<std::int64_t>("PRAGMA page_size");
          if (!size) return tl::unexpected(size.error());
          auto mode = conn.query_value<std::int64_t>("PRAGMA auto_vacuum");
          if (!mode) return tl::unexpected(mode.error());
          return std::tuple{count->value_or(0) * size->value_or(0),
                            free->value_or(0) * size->value_or(0), mode->value_or(0) == 2};
        });
    if (!pages) return tl::unexpected(pages.error());
    std::tie(s.page_bytes, s.free_bytes, s.incremental) = *pages;

    return s;
  }

 private:
  std::shared_ptr<Database> db_;
  std::string cursors_[3];
};

}  // namespace

std::vector<std::string> telemetry_maintenance_statements() {
  std::vector<std::string> out;
  for (auto table : {TelemetryTable::kRaw, TelemetryTable::kRollup1m, TelemetryTable::kRollup1h}) {
    out.emplace_back(table_sql(table).next_device);
    out.emplace_back(table_sql(table).prune_device);
  }
  out.emplace_back(kPruneOldestRaw);
  return out;
}

std::unique_ptr<store::TelemetryMaintenance> make_telemetry_maintenance(
    std::shared_ptr<Database> telemetry_db) {
  return std::make_unique<SqliteTelemetryMaintenance>(std::move(telemetry_db));
}

}  // namespace sp::sqlite
