#include "smartproduct/store/telemetry_repository.hpp"

#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/statement_cache.hpp"
#include "store/sqlite/repositories/telemetry_sql.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <string_view>
#include <tuple>

namespace sp::sqlite {
namespace {

using telemetry::AppendOutcome;
using telemetry::TelemetryRecord;

// Rollup increments of the current batch transaction, merged per (device, bucket, owner) and field,
// written by one upsert per touched row before COMMIT. Touched only on the writer thread. A record
// costs one map lookup per resolution (no key is built unless the series is new) and a short scan
// of that series' fields.
class Rollups {
 public:
  void add(const TelemetryRecord& r) {
    for (int res = 0; res < 2; ++res) {
      const int64_t width = res == 0 ? 60000 : 3600000;
      const SeriesRef ref{r.device_id, floor_to(r.t_ms, width), r.owner_id};
      auto it = pending_[res].find(ref);
      if (it == pending_[res].end()) {
        it = pending_[res].emplace(Series{r.device_id, ref.bucket, r.owner_id}, Fields{}).first;
      }
      Fields& fields = it->second;
      for (const auto& [field, value] : r.numbers) {
        const telemetry::Aggregate a{1, value, value, value, r.t_ms, r.t_ms, value, value};
        auto f = std::find_if(fields.begin(), fields.end(),
                              [&field](const auto& e) { return e.first == field; });
        if (f == fields.end()) {
          fields.emplace_back(field, a);
        } else {
          f->second.merge(a);
        }
      }
    }
  }
  Result<void> flush(Connection& conn) {
    for (int res = 0; res < 2; ++res) {
      for (const auto& [k, fields] : pending_[res]) {
        for (const auto& [field, a] : fields) {
          auto up = upsert_[res].get(conn);
          if (!up) return tl::unexpected(up.error());
          (*up)->bind_all(k.device_id, k.bucket, field, k.owner_id, a.count, a.sum, a.min, a.max,
                          a.first_t, a.first, a.last_t, a.last);
          if (auto r = (*up)->run(); !r) return r;
        }
      }
    }
    clear();
    return {};
  }
  void clear() {
    pending_[0].clear();
    pending_[1].clear();
  }
  static int64_t floor_to(int64_t t, int64_t width) {
    int64_t q = t / width;
    if (t % width != 0 && t < 0) --q;
    return q * width;
  }

 private:
  struct Series {
    std::string device_id;
    int64_t bucket;
    std::string owner_id;
  };
  struct SeriesRef {
    std::string_view device_id;
    int64_t bucket;
    std::string_view owner_id;
  };
  struct SeriesLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::tuple<std::string_view, int64_t, std::string_view>(a.device_id, a.bucket,
                                                                     a.owner_id) <
             std::tuple<std::string_view, int64_t, std::string_view>(b.device_id, b.bucket,
                                                                     b.owner_id);
    }
  };
  using Fields = std::vector<std::pair<std::string, telemetry::Aggregate>>;
  std::map<Series, Fields, SeriesLess> pending_[2];
  CachedStatement upsert_[2] = {
      CachedStatement{telemetry_rollup_upsert_sql("telemetry_rollup_1m")},
      CachedStatement{telemetry_rollup_upsert_sql("telemetry_rollup_1h")}};
};

CommitHooks store_hooks(const std::shared_ptr<Rollups>& rollups) {
  CommitHooks h;
  h.before_commit = [rollups](Connection& conn) { return rollups->flush(conn); };
  h.after_rollback = [rollups] { rollups->clear(); };
  return h;
}

class SqliteTelemetryRepository final : public store::TelemetryRepository {
 public:
  explicit SqliteTelemetryRepository(std::shared_ptr<Database> db)
      : db_(std::move(db)), rollups_(std::make_shared<Rollups>()) {
    // The hooks hold the state, not the repository: the database may outlive it.
    db_->add_commit_hooks(store_hooks(rollups_));
  }

  void append(TelemetryRecord record, std::function<void(Result<AppendOutcome>)> done) override {
    const auto mark = record.spool_mark;
    insert_unless_duplicate<AppendOutcome>(
        *db_,
        [this, record = std::move(record)](Connection& conn) -> Result<void> {
          auto stmt = insert_.get(conn);
          if (!stmt) return tl::unexpected(stmt.error());
          std::optional<std::string> dedup;
          if (!record.dedup_key.empty()) dedup = record.dedup_key;
          std::optional<std::string> owner;
          if (!record.owner_id.empty()) owner = record.owner_id;
          (*stmt)->bind_all(record.device_id, record.device_ts_ms, record.received_at_ms,
                            record.payload, dedup, record.t_ms, owner);
          if (auto r = (*stmt)->run(); !r) return r;
          if (conn.changes() == 0) return {};  // a redelivery: already rolled up
          // Rolled up in memory for this batch; the before-commit hook writes each touched
          // bucket once, in the same transaction as the rows (so rollups never disagree with the
          // raw rows, whatever is killed when).
          if (!record.numbers.empty()) rollups_->add(record);
          return {};
        },
        AppendOutcome::kStored, AppendOutcome::kDuplicate, std::move(done), {}, mark);
  }

  Result<std::vector<TelemetryRecord>> recent(const std::string& device_id, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<TelemetryRecord>> {
      auto stmt = conn.prepare(
          "SELECT id, device_id, device_ts, received_at, payload, coalesce(dedup_key, '') "
          "FROM telemetry WHERE device_id = ?1 ORDER BY t DESC, id DESC LIMIT ?2");
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
  CachedStatement insert_{kTelemetryInsertSql};
  std::shared_ptr<Rollups> rollups_;
};

TelemetryRecord read_record(Statement& stmt) {
  TelemetryRecord t;
  t.id = stmt.column<int64_t>(0);
  t.device_id = stmt.column<std::string>(1);
  t.device_ts_ms = stmt.column<std::optional<int64_t>>(2);
  t.received_at_ms = stmt.column<int64_t>(3);
  t.payload = stmt.column<std::string>(4);
  t.t_ms = stmt.column<int64_t>(5);
  t.owner_id = stmt.column<std::optional<std::string>>(6).value_or("");
  return t;
}

constexpr const char* kRecordColumns =
    "SELECT id, device_id, device_ts, received_at, payload, t, owner_id FROM telemetry ";

class SqliteTelemetryReader final : public store::TelemetryReader {
 public:
  explicit SqliteTelemetryReader(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::vector<TelemetryRecord>> raw(const RawQuery& q) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<TelemetryRecord>> {
      // ?3 NULL: any owner (administrators).
      auto stmt = conn.prepare(
          std::string(kRecordColumns) +
          "WHERE device_id = ?1 AND t >= ?4 AND t < ?5 AND (?3 IS NULL OR owner_id = ?3) "
          "AND (?6 IS NULL OR t > ?6 OR (t = ?6 AND id > ?7)) ORDER BY t, id LIMIT ?2");
      if (!stmt) return tl::unexpected(stmt.error());
      std::optional<int64_t> after_t, after_id;
      if (q.after) {
        after_t = q.after->first;
        after_id = q.after->second;
      }
      stmt->bind_all(q.device_id, q.limit, q.owner, q.from_ms, q.to_ms, after_t, after_id);
      std::vector<TelemetryRecord> out;
      for (;;) {
        auto row = stmt->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        out.push_back(read_record(*stmt));
      }
      return out;
    });
  }

  Result<std::vector<TelemetryRecord>> newest(const std::string& device_id,
                                              const std::optional<std::string>& owner,
                                              int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<TelemetryRecord>> {
      auto stmt = conn.prepare(std::string(kRecordColumns) +
                               "WHERE device_id = ?1 AND (?3 IS NULL OR owner_id = ?3) "
                               "ORDER BY t DESC, id DESC LIMIT ?2");
      if (!stmt) return tl::unexpected(stmt.error());
      stmt->bind_all(device_id, limit, owner);
      std::vector<TelemetryRecord> out;
      for (;;) {
        auto row = stmt->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        out.push_back(read_record(*stmt));
      }
      return out;
    });
  }

  Result<void> rollups(telemetry::Resolution resolution, const std::string& device_id,
                       const std::optional<std::string>& owner, int64_t from_ms, int64_t to_ms,
                       const std::vector<std::string>& fields,
                       const std::function<bool(const RollupRow&)>& row) override {
    return db_->read([&](Connection& conn) -> Result<void> {
      // The table name is one of two constants, never input.
      const char* table = resolution == telemetry::Resolution::kMinute ? "telemetry_rollup_1m"
                                                                       : "telemetry_rollup_1h";
      auto stmt = conn.prepare(
          std::string("SELECT bucket, field, count, sum, min, max, first_t, first, last_t, last "
                      "FROM ") +
          table +
          " WHERE device_id = ?1 AND bucket >= ?2 AND bucket < ?3 AND (?4 IS NULL OR owner_id "
          "= ?4) AND (?5 IS NULL OR field IN (SELECT value FROM json_each(?5))) "
          "ORDER BY bucket, field");
      if (!stmt) return tl::unexpected(stmt.error());
      std::optional<std::string> field_list;
      if (!fields.empty()) field_list = nlohmann::json(fields).dump();
      stmt->bind_all(device_id, from_ms, to_ms, owner, field_list);
      RollupRow r;
      for (;;) {
        auto more = stmt->step();
        if (!more) return tl::unexpected(more.error());
        if (!*more) break;
        r.bucket = stmt->column<int64_t>(0);
        r.field = stmt->column<std::string>(1);
        r.agg.count = stmt->column<int64_t>(2);
        r.agg.sum = stmt->column<double>(3);
        r.agg.min = stmt->column<double>(4);
        r.agg.max = stmt->column<double>(5);
        r.agg.first_t = stmt->column<int64_t>(6);
        r.agg.first = stmt->column<double>(7);
        r.agg.last_t = stmt->column<int64_t>(8);
        r.agg.last = stmt->column<double>(9);
        if (!row(r)) break;
      }
      return {};
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::TelemetryReader> make_telemetry_reader(std::shared_ptr<Database> db) {
  return std::make_unique<SqliteTelemetryReader>(std::move(db));
}

std::unique_ptr<store::TelemetryRepository> make_telemetry_repository(
    std::shared_ptr<Database> telemetry_db) {
  return std::make_unique<SqliteTelemetryRepository>(std::move(telemetry_db));
}

}  // namespace sp::sqlite
