#include "store/sqlite/migrations.hpp"

#include <algorithm>
#include <string>

#include "store/sqlite/embedded_migrations.hpp"

namespace sp::sqlite {

namespace {

tl::unexpected<Error> migration_error(const Connection& conn, std::string message,
                                      std::string detail = {}) {
  message = "database " + conn.path().string() + ": " + message;
  if (detail.empty()) detail = message;
  return fail(ErrorKind::kUnavailable, "DatabaseMigrationFailed", std::move(message),
              std::move(detail));
}

}  // namespace

std::vector<std::string> embedded_schemas() {
  std::vector<std::string> schemas;
  for (std::size_t i = 0; i < detail::kEmbeddedMigrationCount; ++i) {
    std::string schema = detail::kEmbeddedMigrations[i].schema;
    if (std::find(schemas.begin(), schemas.end(), schema) == schemas.end()) {
      schemas.push_back(std::move(schema));
    }
  }
  return schemas;
}

std::vector<Migration> embedded_migrations(std::string_view schema) {
  std::vector<Migration> out;
  for (std::size_t i = 0; i < detail::kEmbeddedMigrationCount; ++i) {
    const auto& file = detail::kEmbeddedMigrations[i];
    if (schema != file.schema) continue;
    out.push_back(Migration{file.version, file.file_name,
                            std::string(reinterpret_cast<const char*>(file.data), file.size)});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

Result<int> user_version(Connection& conn) {
  auto version = conn.query_value<int>("PRAGMA user_version");
  if (!version) return tl::unexpected(version.error());
  return version->value_or(0);
}

Result<int> apply_migrations(Connection& conn, std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return migration_error(conn, "migration " + migrations[i].name + " has version " +
                                       std::to_string(migrations[i].version) + ", expected " +
                                       std::to_string(i + 1));
    }
  }
  const int latest = static_cast<int>(migrations.size());

  auto current = user_version(conn);
  if (!current) return migration_error(conn, "cannot read user_version", current.error().detail);
  if (*current > latest) {
    return migration_error(conn, "schema version " + std::to_string(*current) +
                                     " is newer than this program supports (" +
                                     std::to_string(latest) +
                                     "); refusing to run. Use the smartproduct version that wrote "
                                     "it, or restore a backup.");
  }

  for (const Migration& migration : migrations) {
    if (migration.version <= *current) continue;
    // IMMEDIATE takes the write lock first, so a second process opening the same file concurrently
    // waits and then sees the bumped version instead of applying the migration twice.
    if (auto begun = conn.exec("BEGIN IMMEDIATE"); !begun) {
      return migration_error(conn, "cannot start migration " + migration.name,
                             begun.error().detail);
    }
    auto rollback_with = [&](std::string what, const Error& error) {
      (void)conn.exec("ROLLBACK");
      return migration_error(conn, "migration " + migration.name + " failed: " + what,
                             error.detail);
    };
    auto version = user_version(conn);
    if (!version) return rollback_with("cannot read user_version", version.error());
    if (*version >= migration.version) {  // applied by another process meanwhile
      (void)conn.exec("ROLLBACK");
      *current = *version;
      continue;
    }
    if (auto applied = conn.exec(migration.sql); !applied) {
      return rollback_with(applied.error().detail, applied.error());
    }
    if (!conn.in_transaction()) {
      return migration_error(conn,
                             "migration " + migration.name +
                                 " ended the transaction itself (remove BEGIN/COMMIT from it)");
    }
    auto violations = conn.query_value<std::string>("PRAGMA foreign_key_check");
    if (!violations) return rollback_with("foreign key check failed", violations.error());
    if (*violations) {
      return rollback_with("leaves foreign key violations in table " + **violations, Error{});
    }
    // PRAGMA takes no parameters; the value is an integer we formatted ourselves.
    if (auto bumped = conn.exec("PRAGMA user_version=" + std::to_string(migration.version));
        !bumped) {
      return rollback_with("cannot set user_version", bumped.error());
    }
    if (auto committed = conn.exec("COMMIT"); !committed) {
      return rollback_with("commit failed", committed.error());
    }
    *current = migration.version;
  }
  return *current;
}

}  // namespace sp::sqlite
