#include "store/sqlite/store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

namespace sp::sqlite {

namespace {

tl::unexpected<Error> dir_error(const std::filesystem::path& dir, const std::string& reason) {
  std::string message = "data directory " + dir.string() + ": " + reason;
  return fail(ErrorKind::kUnavailable, std::string(kErrorOpen), message, message);
}

// access(W_OK) says yes to root on a read-only directory; actually creating a file is the only
// answer that holds for every user and every kind of mount.
Result<void> check_writable(const std::filesystem::path& dir) {
  const auto probe = dir / ".write-probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return dir_error(dir, std::string("not writable (") + std::strerror(errno) + ")");
  ::close(fd);
  ::unlink(probe.c_str());
  return {};
}

// The schema an existing database file records (nullopt for a new or empty file).
Result<std::optional<std::string>> recorded_schema(Connection& conn) {
  auto has_meta = conn.query_value<int>(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instance_meta'");
  if (!has_meta) return tl::unexpected(has_meta.error());
  if (!*has_meta) return std::optional<std::string>{};
  return conn.query_value<std::string>("SELECT value FROM instance_meta WHERE key = ?", "schema");
}

Result<void> refuse_other_schema(const std::filesystem::path& path, const char* schema,
                                 const std::optional<std::string>& recorded) {
  if (recorded && *recorded == schema) return {};
  std::string message = "database " + path.string() + " is not a " + schema +
                        " database (schema '" + recorded.value_or("") + "')";
  return fail(ErrorKind::kUnavailable, std::string(kErrorOpen), message, message);
}

// Telemetry is pruned continuously, and PRAGMA incremental_vacuum gives the freed pages back to the
// file system in small steps; that needs auto_vacuum = INCREMENTAL, which only a VACUUM can switch
// on (even on a new file: the WAL journal mode set at open has already written its header). Done
// here, before the database's own connections open, when the file is at most 256 MiB: a VACUUM
// rewrites the whole file and needs as much free space again. A larger file keeps its mode (its
// freed pages are still reused); the telemetry module logs it, the README says how to convert.
Result<void> prepare_incremental_vacuum(const std::filesystem::path& path, int busy_timeout_ms) {
  constexpr std::uintmax_t kConvertMaxBytes = 256u << 20;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kConvertMaxBytes) return {};
  ConnectionOptions options;
  options.busy_timeout_ms = busy_timeout_ms;
  auto conn = Connection::open(path, options);
  if (!conn) return tl::unexpected(conn.error());
  auto mode = conn->query_value<std::int64_t>("PRAGMA auto_vacuum");
  if (!mode) return tl::unexpected(mode.error());
  if (mode->value_or(0) == 2) return {};
  return conn->exec("PRAGMA auto_vacuum = INCREMENTAL; VACUUM");
}

Result<std::shared_ptr<Database>> open_database(const StoreConfig& config, const char* file,
                                                const char* schema) {
  DatabaseConfig db;
  db.path = config.data_dir / file;
  // Refuse a file of the other database (e.g. telemetry.db copied over smartproduct.db) BEFORE
  // migrating it: a migration that alters a table of this schema would fail on it, others would
  // be "applied" on top of the wrong schema.
  if (std::error_code ec; std::filesystem::exists(db.path, ec)) {
    ConnectionOptions probe;
    probe.create = false;
    probe.query_only = true;
    auto conn = Connection::open(db.path, probe);
    if (!conn) return tl::unexpected(conn.error());
    auto recorded = recorded_schema(*conn);
    if (!recorded) return tl::unexpected(recorded.error());
    if (*recorded) {
      if (auto ok = refuse_other_schema(db.path, schema, *recorded); !ok) {
        return tl::unexpected(ok.error());
      }
    }
  }
  db.migrations = embedded_migrations(schema);
  db.busy_timeout_ms = config.busy_timeout_ms;
  db.synchronous = config.synchronous;
  db.write_batch_max = config.write_batch_max;
  db.reader_count = config.reader_count;
  // A file of the other database must be refused before its migrations run: they could fail
  // half-way (or worse, succeed) on the wrong schema. Checked again after opening for new files.
  std::error_code exists_ec;
  if (std::filesystem::exists(db.path, exists_ec)) {
    ConnectionOptions probe_options;
    probe_options.create = false;
    probe_options.query_only = true;
    probe_options.busy_timeout_ms = config.busy_timeout_ms;
    if (auto probe = Connection::open(db.path, probe_options)) {
      auto recorded = probe->query_value<std::string>(
          "SELECT value FROM instance_meta WHERE key = ?", "schema");
      if (recorded && *recorded && **recorded != schema) {
        std::string message = "database " + db.path.string() + " is not a " + schema +
                              " database (schema '" + **recorded + "')";
        return fail(ErrorKind::kUnavailable, std::string(kErrorOpen), message, message);
      }
    }
  }
  if (std::string_view(schema) == "telemetry") {
    if (auto r = prepare_incremental_vacuum(db.path, config.busy_timeout_ms); !r) {
      return tl::unexpected(r.error());
    }
  }
  auto opened = Database::open(std::move(db));
  if (!opened) return opened;

  // Refuse a file that belongs to the other database (e.g. telemetry.db copied over
  // smartproduct.db): its migrations would otherwise be "applied" on top of the wrong schema.
  auto recorded = (*opened)->read([](Connection& conn) {
    return conn.query_value<std::string>("SELECT value FROM instance_meta WHERE key = ?", "schema");
  });
  if (!recorded) return tl::unexpected(recorded.error());
  if (auto ok = refuse_other_schema((*opened)->path(), schema, *recorded); !ok) {
    return tl::unexpected(ok.error());
  }
  return opened;
}

}  // namespace

Store::Store(std::shared_ptr<Database> main, std::shared_ptr<Database> telemetry,
             std::string instance_id)
    : main_(std::move(main)),
      telemetry_(std::move(telemetry)),
      instance_id_(std::move(instance_id)) {}

Store::~Store() { close(); }

bool Store::healthy() const { return main_->healthy() && telemetry_->healthy(); }

void Store::close() {
  main_->close();
  telemetry_->close();
}

Result<std::unique_ptr<Store>> open_store(const StoreConfig& config) {
  const auto& dir = config.data_dir;
  if (dir.empty()) return dir_error(dir, "not configured");
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return dir_error(dir, "cannot create it (" + ec.message() + ")");
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  if (!std::filesystem::is_directory(dir, ec)) return dir_error(dir, "not a directory");
  if (auto writable = check_writable(dir); !writable) return tl::unexpected(writable.error());

  auto main = open_database(config, kMainDatabaseFile, "main");
  if (!main) return tl::unexpected(main.error());
  auto telemetry = open_database(config, kTelemetryDatabaseFile, "telemetry");
  if (!telemetry) return tl::unexpected(telemetry.error());

  auto instance_id = (*main)->read([](Connection& conn) {
    return conn.query_value<std::string>("SELECT value FROM instance_meta WHERE key = ?",
                                         "instance_id");
  });
  if (!instance_id) return tl::unexpected(instance_id.error());
  return std::make_unique<Store>(std::move(*main), std::move(*telemetry),
                                 instance_id->value_or(""));
}

}  // namespace sp::sqlite
