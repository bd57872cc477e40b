#include "store/sqlite/snapshots.hpp"

#include <string>

#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/store.hpp"

namespace sp::sqlite {
namespace fs = std::filesystem;

namespace {

tl::unexpected<Error> snapshot_fail(std::string message) {
  return tl::unexpected(Error{ErrorKind::kUnprocessable, "BackupFailed", std::move(message), {}});
}

std::string message_of(const Error& e) {
  return e.detail.empty() ? e.message : e.message + " (" + e.detail + ")";
}

Result<Connection> open_existing(const fs::path& file, bool read_only) {
  ConnectionOptions options;
  options.create = false;
  options.query_only = read_only;
  auto conn = Connection::open(file, options);
  if (!conn) return snapshot_fail("cannot open " + file.string() + ": " + message_of(conn.error()));
  return conn;
}

class SqliteSnapshots final : public backup::DatabaseSnapshots {
 public:
  std::vector<std::string> database_files() const override {
    return {kMainDatabaseFile, kTelemetryDatabaseFile};
  }

  bool is_database_file(const fs::path& p) const override {
    auto name = p.filename().string();
    for (std::string suffix : {".db", ".db-wal", ".db-shm", ".db-journal"}) {
      if (name.size() >= suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return true;
      }
    }
    return false;
  }

  // VACUUM INTO reads one snapshot (a read transaction on its own connection, so the daemon's
  // writer is not blocked: WAL) and writes a compact, self-contained file (no -wal).
  Result<void> snapshot(const fs::path& from, const fs::path& to) const override {
    auto conn = open_existing(from, false);
    if (!conn) return tl::unexpected(conn.error());
    auto stmt = conn->prepare("VACUUM INTO ?");
    if (!stmt)
      return snapshot_fail("cannot snapshot " + from.string() + ": " + message_of(stmt.error()));
    stmt->bind_text(1, to.string());
    if (auto r = stmt->run(); !r) {
      return snapshot_fail("cannot snapshot " + from.string() + ": " + message_of(r.error()));
    }
    return {};
  }

  Result<backup::DatabaseFacts> describe(const fs::path& file) const override {
    auto conn = open_existing(file, true);
    if (!conn) return tl::unexpected(conn.error());
    backup::DatabaseFacts facts;
    auto version = user_version(*conn);
    if (!version) return snapshot_fail("cannot read the schema version of " + file.string());
    facts.user_version = *version;
    auto schema =
        conn->query_value<std::string>("SELECT value FROM instance_meta WHERE key = ?", "schema");
    if (!schema || !*schema)
      return snapshot_fail(file.string() + " is not a smartproduct database");
    facts.schema = **schema;
    auto tables = conn->prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER "
        "BY name");
    if (!tables) return snapshot_fail("cannot list the tables of " + file.string());
    std::vector<std::string> names;
    for (auto row = tables->step(); row && *row; row = tables->step())
      names.push_back(tables->column_text(0));
    for (const auto& name : names) {
      // Table names come from sqlite_schema of our own database; quoted as identifiers all the
      // same.
      std::string quoted = "\"";
      for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      quoted += "\"";
      auto n = conn->query_value<std::int64_t>("SELECT count(*) FROM " + quoted);
      if (!n || !*n) return snapshot_fail("cannot count rows of " + name + " in " + file.string());
      facts.rows[name] = **n;
    }
    return facts;
  }

  std::optional<int> newest_version(std::string_view schema) const override {
    auto known = embedded_migrations(schema);
    if (known.empty()) return std::nullopt;
    return known.back().version;
  }

  Result<std::string> integrity_check(const fs::path& file) const override {
    auto conn = open_existing(file, true);
    if (!conn) return tl::unexpected(conn.error());
    auto check = conn->query_value<std::string>("PRAGMA integrity_check");
    if (!check || !*check) return snapshot_fail("cannot check " + file.string());
    return **check;
  }
};

}  // namespace

std::unique_ptr<backup::DatabaseSnapshots> make_database_snapshots() {
  return std::make_unique<SqliteSnapshots>();
}

}  // namespace sp::sqlite
