// libFuzzer target for the datasets' SQL subset (src/modules/datasets/query.cpp), whose whole text
// an administrator writes. An error must point inside the text; an accepted query must compile to
// SQL that SQLite prepares on the real telemetry table (the compiler, not SQLite, is what refuses
// bad queries), whose parameters are exactly ?1..?N, and in which no quote appears but the
// compiler's own two literals (everything from the text is a bound parameter). The statement is
// then run over a few rows. Crashes, sanitizer reports and broken invariants are findings.

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smartproduct/datasets/query.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

sqlite3* database() {
  static sqlite3* db = [] {
    sqlite3* d = nullptr;
    check(sqlite3_open(":memory:", &d) == SQLITE_OK);
    check(
        sqlite3_exec(d,
                     "CREATE TABLE telemetry (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, "
                     "device_ts INTEGER, received_at INTEGER NOT NULL, payload TEXT NOT NULL, "
                     "dedup_key TEXT, t INTEGER NOT NULL DEFAULT 0, owner_id TEXT);"
                     "INSERT INTO telemetry (device_id, received_at, payload, t, owner_id) VALUES "
                     "('A', 1, '{\"x\": 1.5, \"s\": \"a\", \"n\": {\"k\": 2}}', 1000, 'u'),"
                     "('B', 2, '{\"x\": -3, \"y\": null}', 2000, 'u'),"
                     "('C', 3, '{}', 3000, NULL);",
                     nullptr, nullptr, nullptr) == SQLITE_OK);
    return d;
  }();
  return db;
}

void run(const std::string& sql, const sp::datasets::CompiledQuery& q) {
  sqlite3_stmt* st = nullptr;
  const int rc = sqlite3_prepare_v2(database(), sql.c_str(), -1, &st, nullptr);
  if (rc != SQLITE_OK)
    std::fprintf(stderr, "prepare: %s\n%s\n", sqlite3_errmsg(database()), sql.c_str());
  check(rc == SQLITE_OK);
  check(sqlite3_bind_parameter_count(st) == static_cast<int>(q.params.size()) + 2);
  sqlite3_bind_int64(st, 1, 0);
  sqlite3_bind_int64(st, 2, 3);
  int i = 3;
  for (const auto& p : q.params) {
    if (auto* s = std::get_if<std::string>(&p)) {
      sqlite3_bind_text(st, i, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    } else if (auto* n = std::get_if<std::int64_t>(&p)) {
      sqlite3_bind_int64(st, i, *n);
    } else {
      sqlite3_bind_double(st, i, std::get<double>(p));
    }
    ++i;
  }
  for (int rows = 0; rows < 1000 && sqlite3_step(st) == SQLITE_ROW; ++rows) {
  }
  sqlite3_finalize(st);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto q = sp::datasets::compile_query(text);
  if (!q) {
    check(q.error().position <= text.size() || q.error().position == sp::datasets::kMaxQueryLength);
    check(!q.error().message.empty());
    return 0;
  }
  check(!q->columns.empty());
  std::string stripped = q->sql;
  for (const std::string_view lit : {"'%Y-%m-%dT%H:%M:%fZ'", "'unixepoch'"}) {
    for (auto at = stripped.find(lit); at != std::string::npos; at = stripped.find(lit)) {
      stripped.erase(at, lit.size());
    }
  }
  check(stripped.find('\'') == std::string::npos);
  check(stripped.find('"') == std::string::npos);
  check(stripped.find(';') == std::string::npos);
  check(stripped.find("--") == std::string::npos);
  run(q->sql, *q);
  if (q->select_all) run(q->attributes_sql, *q);
  return 0;
}
