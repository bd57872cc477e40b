#include "smartproduct/store/telemetry_repository.hpp"

#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/statement_cache.hpp"

namespace sp::sqlite {
namespace {

using telemetry::AppendOutcome;
using telemetry::TelemetryRecord;

class SqliteTelemetryRepository final : public store::TelemetryRepository {
 public:
  explicit SqliteTelemetryRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  void append(TelemetryRecord record, std::function<void(Result<AppendOutcome>)> done) override {
    insert_unless_duplicate<AppendOutcome>(
        *db_,
        [this, record = std::move(record)](Connection& conn) -> Result<void> {
          auto stmt = insert_.get(conn);
          if (!stmt) return tl::unexpected(stmt.error());
          std::optional<std::string> dedup;
          if (!record.dedup_key.empty()) dedup = record.dedup_key;
          (*stmt)->bind_all(record.device_id, record.device_ts_ms, record.received_at_ms,
                            record.payload, dedup);
          return (*stmt)->run();
        },
        AppendOutcome::kStored, AppendOutcome::kDuplicate, std::move(done));
  }

  Result<std::vector<TelemetryRecord>> recent(const std::string& device_id, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<TelemetryRecord>> {
      auto stmt = conn.prepare(
          "SELECT id, device_id, device_ts, received_at, payload, coalesce(dedup_key, '') "
          "FROM telemetry WHERE device_id = ?1 ORDER BY received_at DESC, id DESC LIMIT ?2");
      if (!stmt) return tl::unexpected(stmt.error());
      stmt->bind_all(device_id, limit);
      std::vector<TelemetryRecord> out;
      for (;;) {
        auto row = stmt->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        TelemetryRecord t;
        t.id = stmt->column<int64_t>(0);
        t.device_id = stmt->column<std::string>(1);
        t.device_ts_ms = stmt->column<std::optional<int64_t>>(2);
        t.received_at_ms = stmt->column<int64_t>(3);
        t.payload = stmt->column<std::string>(4);
        t.dedup_key = stmt->column<std::string>(5);
        out.push_back(std::move(t));
      }
      return out;
    });
  }

  Result<int64_t> count(const std::string& device_id) override {
    return count_device_rows(*db_, "telemetry", device_id);
  }

 private:
  std::shared_ptr<Database> db_;
  // Used only inside write jobs (the writer thread).
  CachedStatement insert_{
      "INSERT INTO telemetry (device_id, device_ts, received_at, payload, dedup_key) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"};
};

}  // namespace

std::unique_ptr<store::TelemetryRepository> make_telemetry_repository(
    std::shared_ptr<Database> telemetry_db) {
  return std::make_unique<SqliteTelemetryRepository>(std::move(telemetry_db));
}

}  // namespace sp::sqlite
