#pragma once
// The storage aggregate: both SQLite databases of an installation, opened from one data directory.
// The composition root calls open_store() once and hands main()/telemetry() to repositories.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "smartproduct/core/result.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/database.hpp"

namespace sp::sqlite {

/// File names inside the data directory.
inline constexpr const char* kMainDatabaseFile = "smartproduct.db";
inline constexpr const char* kTelemetryDatabaseFile = "telemetry.db";

struct StoreConfig {
  /// Created (mode 0700) if missing; must be writable.
  std::filesystem::path data_dir;
  int busy_timeout_ms = 5000;
  std::size_t write_batch_max = 256;
  /// kFull by default: a committed and acknowledged row survives kill -9 and power loss.
  Synchronous synchronous = Synchronous::kFull;
  std::size_t reader_count = 2;
};

class Store {
 public:
  Store(std::shared_ptr<Database> main, std::shared_ptr<Database> telemetry,
        std::string instance_id);
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  /// Calls close().
  ~Store();

  /// smartproduct.db: everything except telemetry samples.
  Database& main() { return *main_; }
  std::shared_ptr<Database> main_ptr() const { return main_; }
  /// telemetry.db: telemetry samples (kept apart so retention is cheap).
  Database& telemetry() { return *telemetry_; }
  std::shared_ptr<Database> telemetry_ptr() const { return telemetry_; }

  /// The installation's id, created at the first open of smartproduct.db (32 hex characters).
  const std::string& instance_id() const { return instance_id_; }
  /// Both databases healthy (for /readyz).
  bool healthy() const;
  /// Drains queued writes and closes both databases. Idempotent.
  void close();

 private:
  std::shared_ptr<Database> main_;
  std::shared_ptr<Database> telemetry_;
  std::string instance_id_;
};

/// Creates data_dir if needed, checks it is writable, then opens (and migrates) smartproduct.db and
/// telemetry.db. Errors name the directory or file and the reason.
Result<std::unique_ptr<Store>> open_store(const StoreConfig& config);

}  // namespace sp::sqlite
