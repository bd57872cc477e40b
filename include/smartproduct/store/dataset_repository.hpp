#pragma once
// Storage of the datasets (module datasets): their definitions and runs in the main database, and
// the read of a compiled query over telemetry.db. Times are epoch ms.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"
#include "smartproduct/datasets/query.hpp"

namespace sp::store {

struct Dataset {
  std::string name;
  std::string query;
  std::string schedule;
  std::string format;  // csv | jsonl
  int retention_days = 30;
  bool enabled = true;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> next_run_at_ms;
  std::int64_t watermark = 0;
  std::string telemetry_instance;
};

struct DatasetRun {
  std::int64_t id = 0;
  std::string dataset;
  std::string trigger;  // scheduled | manual | cli
  std::string status;   // running | succeeded | failed
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> finished_at_ms;
  std::int64_t from_row = 0;
  std::int64_t to_row = 0;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  nlohmann::json columns = nlohmann::json::array();
  std::string file;  // relative to the datasets directory; '' unless succeeded
  std::string error;
};

/// What a successful run records, in one transaction with the dataset's new watermark.
struct DatasetRunResult {
  std::int64_t from_row = 0;
  std::int64_t to_row = 0;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  nlohmann::json columns = nlohmann::json::array();
  std::string file;
  std::string telemetry_instance;
  std::int64_t finished_at_ms = 0;
};

class DatasetRepository {
 public:
  virtual ~DatasetRepository() = default;
  virtual Result<std::vector<Dataset>> list() = 0;
  /// DatasetNotFound when absent.
  virtual Result<Dataset> get(const std::string& name) = 0;
  /// DatasetExists when the name is taken.
  virtual Result<void> create(const Dataset& d) = 0;
  /// Query, schedule, format, retention, enabled, updated_at and next_run_at of `d.name`.
  virtual Result<void> update(const Dataset& d) = 0;
  /// Deletes the dataset and its runs; returns the files of its runs (to delete).
  virtual Result<std::vector<std::string>> remove(const std::string& name) = 0;
  virtual Result<void> set_next_run(const std::string& name, std::optional<std::int64_t> at_ms) = 0;

  /// A new 'running' run; DatasetRunRunning when the dataset has one already.
  virtual Result<std::int64_t> start_run(const std::string& name, const std::string& trigger,
                                         std::int64_t now_ms) = 0;
  virtual Result<void> finish_run(std::int64_t run_id, const DatasetRunResult& result) = 0;
  virtual Result<void> fail_run(std::int64_t run_id, const std::string& error,
                                std::int64_t now_ms) = 0;
  /// Runs left 'running' by a process that died: 'failed'. Returns how many.
  virtual Result<int> fail_interrupted(std::int64_t now_ms) = 0;
  /// Newest first; `before` is the id to continue after.
  virtual Result<std::vector<DatasetRun>> runs(const std::string& name, int limit,
                                               std::optional<std::int64_t> before) = 0;
  virtual Result<DatasetRun> run(const std::string& name, std::int64_t id) = 0;
  virtual Result<std::optional<DatasetRun>> last_run(const std::string& name) = 0;
  /// Finished runs of `name` that started before `cutoff_ms`, deleted; returns their files.
  virtual Result<std::vector<std::string>> expire_runs(const std::string& name,
                                                       std::int64_t cutoff_ms) = 0;
  /// Every file a run still refers to (for sweeping orphans).
  virtual Result<std::vector<std::string>> run_files() = 0;
};

/// One output value of a dataset row.
using Cell = std::variant<std::monostate, std::int64_t, double, std::string>;

/// The reading side over telemetry.db.
class DatasetSource {
 public:
  virtual ~DatasetSource() = default;
  struct Window {
    std::string instance_id;  // telemetry.db's instance id
    std::int64_t max_row = 0;
  };
  virtual Result<Window> window() = 0;
  /// Asked now and then while SQLite works (also before a query yields its first row, e.g. while
  /// it groups): true stops the statement, which then fails (the caller knows why).
  using StopRequested = std::function<bool()>;
  /// SELECT * only: the distinct top-level attributes of the messages the query reads.
  virtual Result<std::vector<std::string>> attributes(const datasets::CompiledQuery& q,
                                                      std::int64_t after_row,
                                                      std::int64_t up_to_row,
                                                      const StopRequested& stop) = 0;
  /// Runs `q` over rows (after_row, up_to_row], calling `row` for each result row in order.
  /// `row` returning an error stops the scan with that error.
  virtual Result<void> scan(const datasets::CompiledQuery& q, std::int64_t after_row,
                            std::int64_t up_to_row,
                            const std::function<Result<void>(const std::vector<Cell>&)>& row,
                            const StopRequested& stop) = 0;
};

}  // namespace sp::store
