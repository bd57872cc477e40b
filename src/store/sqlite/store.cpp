#include "store/sqlite/store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

Result<std::shared_ptr<Database>> open_database(const StoreConfig& config, const char* file,
                                                const char* schema) {
  DatabaseConfig db;
  db.path = config.data_dir / file;
  db.migrations = embedded_migrations(schema);
  db.busy_timeout_ms = config.busy_timeout_ms;
  db.synchronous = config.synchronous;
  db.write_batch_max = config.write_batch_max;
  db.reader_count = config.reader_count;
  auto opened = Database::open(std::move(db));
  if (!opened) return opened;

  // Refuse a file that belongs to the other database (e.g. telemetry.db copied over
  // smartproduct.db): its migrations would otherwise be "applied" on top of the wrong schema.
  auto recorded = (*opened)->read([](Connection& conn) {
    return conn.query_value<std::string>("SELECT value FROM instance_meta WHERE key = ?", "schema");
  });
  if (!recorded) return tl::unexpected(recorded.error());
  if (!*recorded || **recorded != schema) {
    std::string message = "database " + (*opened)->path().string() + " is not a " + schema +
                          " database (schema '" + recorded->value_or("") + "')";
    return fail(ErrorKind::kUnavailable, std::string(kErrorOpen), message, message);
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
