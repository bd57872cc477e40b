#pragma once
// Internal to src/store/sqlite: turns a SQLite result code into an sp::Error.

#include <string_view>

#include "smartproduct/core/result.hpp"

struct sqlite3;

namespace sp::sqlite {

/// Maps `rc` to an Error: constraint → kConflict, busy/locked → kUnavailable, else kInternal. The
/// SQLite message, code and file go into Error::detail (logged only); Error::message stays generic.
Error make_error(sqlite3* db, int rc, std::string_view what);

}  // namespace sp::sqlite
