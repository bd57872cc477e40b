#pragma once
// Schema migrations: numbered SQL files under src/store/sqlite/migrations/<schema>/NNNN_name.sql,
// embedded into the binary at build time and applied in order, tracked by PRAGMA user_version.
// See src/store/sqlite/README.md for how to add one.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "store/sqlite/connection.hpp"

namespace sp::sqlite {

struct Migration {
  int version = 0;   // 1, 2, ... without gaps
  std::string name;  // file name, e.g. "0001_instance.sql" (used in error messages)
  std::string sql;   // one or more statements; no BEGIN/COMMIT (the runner owns the transaction)
};

/// Schema names of the embedded migration sets ("main", "telemetry").
std::vector<std::string> embedded_schemas();

/// The embedded migrations of `schema`, ordered by version (empty for an unknown schema).
std::vector<Migration> embedded_migrations(std::string_view schema);

/// PRAGMA user_version of the connection's database.
Result<int> user_version(Connection& conn);

/// Brings the database up to the last migration: each pending migration runs in its own
/// BEGIN IMMEDIATE transaction together with the user_version bump and a foreign key check, so a
/// failing migration leaves the database at the previous version. Fails without changing anything
/// when the database's user_version is newer than the last migration (a newer binary created it) or
/// the migration list is not numbered 1..N. Returns the resulting version.
Result<int> apply_migrations(Connection& conn, std::span<const Migration> migrations);

}  // namespace sp::sqlite
