// Datasets: definitions and runs in smartproduct.db, and the read of a compiled dataset query
// over telemetry.db on a reader connection (query_only: whatever the SQL, it cannot write).

#include "store/sqlite/repositories/dataset_repository.hpp"

#include <sqlite3.h>

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using store::Dataset;
using store::DatasetRun;

constexpr const char* kDatasetColumns =
    "name, query, schedule, format, retention_days, enabled, created_at, updated_at, next_run_at, "
    "watermark, telemetry_instance";
constexpr const char* kRunColumns =
    "id, dataset, trigger, status, started_at, finished_at, from_row, to_row, rows, bytes, "
    "columns, file, error";

Dataset read_dataset(const Statement& s) {
  Dataset d;
  d.name = s.column<std::string>(0);
  d.query = s.column<std::string>(1);
  d.schedule = s.column<std::string>(2);
  d.format = s.column<std::string>(3);
  d.retention_days = s.column<int>(4);
  d.enabled = s.column<bool>(5);
  d.created_at_ms = s.column<std::int64_t>(6);
  d.updated_at_ms = s.column<std::int64_t>(7);
  d.next_run_at_ms = s.column<std::optional<std::int64_t>>(8);
  d.watermark = s.column<std::int64_t>(9);
  d.telemetry_instance = s.column<std::string>(10);
  return d;
}

DatasetRun read_run(const Statement& s) {
  DatasetRun r;
  r.id = s.column<std::int64_t>(0);
  r.dataset = s.column<std::string>(1);
  r.trigger = s.column<std::string>(2);
  r.status = s.column<std::string>(3);
  r.started_at_ms = s.column<std::int64_t>(4);
  r.finished_at_ms = s.column<std::optional<std::int64_t>>(5);
  r.from_row = s.column<std::int64_t>(6);
  r.to_row = s.column<std::int64_t>(7);
  r.rows = s.column<std::int64_t>(8);
  r.bytes = s.column<std::int64_t>(9);
  auto columns = nlohmann::json::parse(s.column<std::string>(10), nullptr, false);
  r.columns = columns.is_array() ? columns : nlohmann::json::array();
  r.file = s.column<std::string>(11);
  r.error = s.column<std::string>(12);
  return r;
}

tl::unexpected<Error> not_found(const std::string& what) {
  return store::fail(store::Failure::kNotFound, what);
}

// Has SQLite ask `stop` every few thousand virtual machine steps while a dataset query runs on
// this reader connection (a GROUP BY over millions of rows yields nothing for a long time), and
// removes the handler after: the connection goes back to the pool.
class ProgressGuard {
 public:
  ProgressGuard(Connection& c, const store::DatasetSource::StopRequested& stop)
      : db_(c.handle()), stop_(stop) {
    if (stop_) sqlite3_progress_handler(db_, 10000, &ProgressGuard::ask, this);
  }
  ~ProgressGuard() {
    if (stop_) sqlite3_progress_handler(db_, 0, nullptr, nullptr);
  }
  ProgressGuard(const ProgressGuard&) = delete;
  ProgressGuard& operator=(const ProgressGuard&) = delete;

 private:
  static int ask(void* self) { return static_cast<ProgressGuard*>(self)->stop_() ? 1 : 0; }
  sqlite3* db_;
  const store::DatasetSource::StopRequested& stop_;
};

class SqliteDatasetRepository final : public store::DatasetRepository {
 public:
  explicit SqliteDatasetRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::vector<Dataset>> list() override {
    return db_->read([](Connection& c) -> Result<std::vector<Dataset>> {
      auto s = c.prepare(std::string("SELECT ") + kDatasetColumns + " FROM datasets ORDER BY name");
      if (!s) return forward(s);
      std::vector<Dataset> out;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.push_back(read_dataset(*s));
      }
      return out;
    });
  }

  Result<Dataset> get(const std::string& name) override {
    return db_->read([&](Connection& c) -> Result<Dataset> {
      auto s =
          c.prepare(std::string("SELECT ") + kDatasetColumns + " FROM datasets WHERE name = ?1");
      if (!s) return forward(s);
      s->bind(1, name);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return not_found("dataset " + name);
      return read_dataset(*s);
    });
  }

  Result<void> create(const Dataset& d) override {
    auto r = db_->write([&](Connection& c) {
      return c.execute(
          "INSERT INTO datasets (name, query, schedule, format, retention_days, enabled, "
          "created_at, updated_at, next_run_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
          d.name, d.query, d.schedule, d.format, d.retention_days, d.enabled ? 1 : 0,
          d.created_at_ms, d.updated_at_ms, d.next_run_at_ms);
    });
    if (!r && store::failure_of(r.error()) == store::Failure::kConflict) {
      return store::fail(store::Failure::kConflict, "dataset exists", r.error().detail);
    }
    return r;
  }

  Result<void> update(const Dataset& d) override {
    bool found = false;
    auto r = db_->write([&](Connection& c) -> Result<void> {
      auto e = c.execute(
          "UPDATE datasets SET query = ?2, schedule = ?3, format = ?4, retention_days = ?5, "
          "enabled = ?6, updated_at = ?7, next_run_at = ?8 WHERE name = ?1",
          d.name, d.query, d.schedule, d.format, d.retention_days, d.enabled ? 1 : 0,
          d.updated_at_ms, d.next_run_at_ms);
      found = e && c.changes() > 0;
      return e;
    });
    if (!r) return r;
    if (!found) return not_found("dataset " + d.name);
    return {};
  }

  Result<std::vector<std::string>> remove(const std::string& name) override {
    std::vector<std::string> files;
    bool found = false;
    auto r = db_->write([&](Connection& c) -> Result<void> {
      files.clear();
      auto s = c.prepare("SELECT file FROM dataset_runs WHERE dataset = ?1 AND file != ''");
      if (!s) return forward(s);
      s->bind(1, name);
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        files.push_back(s->column<std::string>(0));
      }
      s->reset();
      // Runs go by ON DELETE CASCADE.
      auto e = c.execute("DELETE FROM datasets WHERE name = ?1", name);
      found = e && c.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    if (!found) return not_found("dataset " + name);
    return files;
  }

  Result<void> set_next_run(const std::string& name, std::optional<std::int64_t> at_ms) override {
    return db_->write([&](Connection& c) {
      return c.execute("UPDATE datasets SET next_run_at = ?2 WHERE name = ?1", name, at_ms);
    });
  }

  Result<std::int64_t> start_run(const std::string& name, const std::string& trigger,
                                 std::int64_t now_ms) override {
    std::int64_t id = 0;
    auto r = db_->write([&](Connection& c) -> Result<void> {
      auto e = c.execute(
          "INSERT INTO dataset_runs (dataset, trigger, status, started_at) "
          "VALUES (?1, ?2, 'running', ?3)",
          name, trigger, now_ms);
      if (e) id = c.last_insert_rowid();
      return e;
    });
    if (!r) {
      // dataset_runs_one_running decides concurrent starts; the foreign key a deleted dataset.
      if (store::failure_of(r.error()) == store::Failure::kConflict) {
        auto exists = get(name);
        if (!exists) return tl::unexpected(exists.error());
        return store::fail(store::Failure::kConflict, "a run of the dataset is running",
                           r.error().detail);
      }
      return forward(r);
    }
    return id;
  }

  Result<void> finish_run(std::int64_t run_id, const store::DatasetRunResult& res) override {
    return db_->write([&](Connection& c) -> Result<void> {
      auto e = c.execute(
          "UPDATE dataset_runs SET status = 'succeeded', finished_at = ?2, from_row = ?3, "
          "to_row = ?4, rows = ?5, bytes = ?6, columns = ?7, file = ?8 WHERE id = ?1 AND "
          "status = 'running'",
          run_id, res.finished_at_ms, res.from_row, res.to_row, res.rows, res.bytes,
          res.columns.dump(), res.file);
      if (!e) return e;
      if (c.changes() == 0) return not_found("running dataset run");
      return c.execute(
          "UPDATE datasets SET watermark = ?2, telemetry_instance = ?3 WHERE name = "
          "(SELECT dataset FROM dataset_runs WHERE id = ?1)",
          run_id, res.to_row, res.telemetry_instance);
    });
  }

  Result<void> fail_run(std::int64_t run_id, const std::string& error,
                        std::int64_t now_ms) override {
    return db_->write([&](Connection& c) {
      return c.execute(
          "UPDATE dataset_runs SET status = 'failed', finished_at = ?3, error = ?2 WHERE id = ?1 "
          "AND status = 'running'",
          run_id, error, now_ms);
    });
  }

  Result<int> fail_interrupted(std::int64_t now_ms) override {
    int n = 0;
    auto r = db_->write([&](Connection& c) -> Result<void> {
      auto e = c.execute(
          "UPDATE dataset_runs SET status = 'failed', finished_at = ?1, "
          "error = 'interrupted by a restart' WHERE status = 'running'",
          now_ms);
      n = e ? static_cast<int>(c.changes()) : 0;
      return e;
    });
    if (!r) return forward(r);
    return n;
  }

  Result<std::vector<DatasetRun>> runs(const std::string& name, int limit,
                                       std::optional<std::int64_t> before) override {
    return db_->read([&](Connection& c) -> Result<std::vector<DatasetRun>> {
      auto s = c.prepare(std::string("SELECT ") + kRunColumns +
                         " FROM dataset_runs WHERE dataset = ?1 AND id < ?2 ORDER BY id DESC "
                         "LIMIT ?3");
      if (!s) return forward(s);
      s->bind(1, name).bind(2, before.value_or(INT64_MAX)).bind(3, limit);
      std::vector<DatasetRun> out;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.push_back(read_run(*s));
      }
      return out;
    });
  }

  Result<DatasetRun> run(const std::string& name, std::int64_t id) override {
    return db_->read([&](Connection& c) -> Result<DatasetRun> {
      auto s = c.prepare(std::string("SELECT ") + kRunColumns +
                         " FROM dataset_runs WHERE dataset = ?1 AND id = ?2");
      if (!s) return forward(s);
      s->bind(1, name).bind(2, id);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return not_found("dataset run");
      return read_run(*s);
    });
  }

  Result<std::optional<DatasetRun>> last_run(const std::string& name) override {
    auto rows = runs(name, 1, std::nullopt);
    if (!rows) return forward(rows);
    if (rows->empty()) return std::optional<DatasetRun>{};
    return std::optional<DatasetRun>(rows->front());
  }

  Result<std::vector<std::string>> expire_runs(const std::string& name,
                                               std::int64_t cutoff_ms) override {
    std::vector<std::string> files;
    auto r = db_->write([&](Connection& c) -> Result<void> {
      files.clear();
      auto s = c.prepare(
          "DELETE FROM dataset_runs WHERE dataset = ?1 AND started_at < ?2 AND status != "
          "'running' RETURNING file");
      if (!s) return forward(s);
      s->bind(1, name).bind(2, cutoff_ms);
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        if (auto f = s->column<std::string>(0); !f.empty()) files.push_back(std::move(f));
      }
      return {};
    });
    if (!r) return forward(r);
    return files;
  }

  Result<std::vector<std::string>> run_files() override {
    return db_->read([](Connection& c) -> Result<std::vector<std::string>> {
      auto s = c.prepare("SELECT file FROM dataset_runs WHERE file != ''");
      if (!s) return forward(s);
      std::vector<std::string> out;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.push_back(s->column<std::string>(0));
      }
      return out;
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

Statement& bind_query(Statement& s, const datasets::CompiledQuery& q, std::int64_t after_row,
                      std::int64_t up_to_row) {
  s.bind(1, after_row).bind(2, up_to_row);
  int index = 3;
  for (const auto& p : q.params) {
    std::visit([&](const auto& v) { s.bind(index, v); }, p);
    ++index;
  }
  return s;
}

class SqliteDatasetSource final : public store::DatasetSource {
 public:
  explicit SqliteDatasetSource(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<Window> window() override {
    return db_->read([](Connection& c) -> Result<Window> {
      Window w;
      auto id =
          c.query_value<std::string>("SELECT value FROM instance_meta WHERE key = 'instance_id'");
      if (!id) return forward(id);
      w.instance_id = id->value_or("");
      auto max = c.query_value<std::int64_t>("SELECT coalesce(max(id), 0) FROM telemetry");
      if (!max) return forward(max);
      w.max_row = max->value_or(0);
      return w;
    });
  }

  Result<std::vector<std::string>> attributes(const datasets::CompiledQuery& q,
                                              std::int64_t after_row, std::int64_t up_to_row,
                                              const StopRequested& stop) override {
    return db_->read([&](Connection& c) -> Result<std::vector<std::string>> {
      ProgressGuard guard(c, stop);
      auto s = c.prepare(q.attributes_sql);
      if (!s) return forward(s);
      bind_query(*s, q, after_row, up_to_row);
      std::vector<std::string> out;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.push_back(s->column<std::string>(0));
      }
      return out;
    });
  }

  Result<void> scan(const datasets::CompiledQuery& q, std::int64_t after_row,
                    std::int64_t up_to_row,
                    const std::function<Result<void>(const std::vector<store::Cell>&)>& row_fn,
                    const StopRequested& stop) override {
    return db_->read([&](Connection& c) -> Result<void> {
      ProgressGuard guard(c, stop);
      auto s = c.prepare(q.sql);
      if (!s) return forward(s);
      bind_query(*s, q, after_row, up_to_row);
      std::vector<store::Cell> cells;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        const int n = s->column_count();
        cells.assign(static_cast<std::size_t>(n), std::monostate{});
        for (int i = 0; i < n; ++i) {
          switch (s->column_type(i)) {
            case Statement::ColumnType::kInteger:
              cells[i] = s->column_int64(i);
              break;
            case Statement::ColumnType::kFloat:
              cells[i] = s->column_double(i);
              break;
            case Statement::ColumnType::kText:
            case Statement::ColumnType::kBlob:
              cells[i] = s->column_text(i);
              break;
            case Statement::ColumnType::kNull:
              break;
          }
        }
        if (auto r = row_fn(cells); !r) return r;
      }
      return {};
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::DatasetRepository> make_dataset_repository(
    std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteDatasetRepository>(std::move(main_db));
}

std::unique_ptr<store::DatasetSource> make_dataset_source(std::shared_ptr<Database> telemetry_db) {
  return std::make_unique<SqliteDatasetSource>(std::move(telemetry_db));
}

}  // namespace sp::sqlite
