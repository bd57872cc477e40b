// The datasets' SQL subset: what each construct compiles to, that literals and names only ever
// reach SQLite as bound parameters, and errors with their positions. The compiled statements are
// also prepared and run against a real telemetry table, so the SQL is not only looked at.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "smartproduct/datasets/query.hpp"

namespace sp::datasets {
namespace {

CompiledQuery ok(const std::string& text) {
  auto q = compile_query(text);
  EXPECT_TRUE(q) << text << ": " << (q ? "" : q.error().to_string());
  return q ? *q : CompiledQuery{};
}

QueryError bad(const std::string& text) {
  auto q = compile_query(text);
  EXPECT_FALSE(q) << text << " compiled to " << (q ? q->sql : "");
  return q ? QueryError{} : q.error();
}

TEST(DatasetQuery, SelectStarReadsTheRowAndListsItsAttributes) {
  auto q = ok("select * from telemetry");
  EXPECT_TRUE(q.select_all);
  EXPECT_EQ(q.columns, (std::vector<std::string>{"deviceId", "t", "receivedAt"}));
  EXPECT_EQ(q.sql,
            "SELECT device_id, t, received_at, payload FROM telemetry WHERE id > ?1 AND id <= ?2 "
            "ORDER BY id");
  EXPECT_NE(q.attributes_sql.find("json_each"), std::string::npos);
  EXPECT_TRUE(q.params.empty());
}

TEST(DatasetQuery, ItemsNamesAndLiteralsBecomeColumnsAndParameters) {
  auto q =
      ok("SELECT deviceId, actualTemperatureC * 2 AS twice, a.b, \"odd name\" FROM telemetry "
         "WHERE t >= 5 AND deviceId = 'SN''1' LIMIT 10");
  EXPECT_EQ(q.columns, (std::vector<std::string>{"deviceId", "twice", "a.b", "odd name"}));
  EXPECT_EQ(q.sql,
            "SELECT device_id, (json_extract(payload, ?3) * ?4), json_extract(payload, ?5), "
            "json_extract(payload, ?6) FROM telemetry WHERE id > ?1 AND id <= ?2 AND "
            "(((t >= ?7) AND (device_id = ?8))) ORDER BY id LIMIT 10");
  ASSERT_EQ(q.params.size(), 6u);
  EXPECT_EQ(std::get<std::string>(q.params[0]), "$.\"actualTemperatureC\"");
  EXPECT_EQ(std::get<std::int64_t>(q.params[1]), 2);
  EXPECT_EQ(std::get<std::string>(q.params[2]), "$.\"a\".\"b\"");
  EXPECT_EQ(std::get<std::string>(q.params[3]), "$.\"odd name\"");
  EXPECT_EQ(std::get<std::string>(q.params[5]), "SN'1");
}

TEST(DatasetQuery, AggregatesGroupingOrderingAndColumnNumbers) {
  auto q =
      ok("SELECT deviceId, count(*), avg(x) AS a FROM telemetry GROUP BY 1 ORDER BY 3 DESC, "
         "deviceId");
  EXPECT_EQ(q.columns, (std::vector<std::string>{"deviceId", "count(*)", "a"}));
  EXPECT_EQ(q.sql,
            "SELECT device_id, count(*), avg(json_extract(payload, ?3)) FROM telemetry WHERE "
            "id > ?1 AND id <= ?2 GROUP BY 1 ORDER BY 3 DESC, device_id");
}

TEST(DatasetQuery, OperatorsFunctionsAndBuckets) {
  auto q =
      ok("SELECT bucket(t, '1h') AS h, iso(t) AS time, round(x / 3, 2) AS r, coalesce(a, 0) "
         "AS c FROM telemetry WHERE NOT (x IS NULL) AND y NOT IN (1, 2.5, 'z') AND z "
         "BETWEEN -1 AND 1e3 AND name LIKE 'S%' OR x <> 4");
  EXPECT_NE(q.sql.find("((CAST(t AS INTEGER) / 3600000) * 3600000)"), std::string::npos) << q.sql;
  EXPECT_NE(q.sql.find("strftime('%Y-%m-%dT%H:%M:%fZ', t / 1000.0, 'unixepoch')"),
            std::string::npos);
  EXPECT_NE(q.sql.find("round((json_extract(payload, ?3) * 1.0 / ?4), ?5)"), std::string::npos)
      << q.sql;
  EXPECT_NE(q.sql.find(" NOT IN ("), std::string::npos);
  EXPECT_NE(q.sql.find(" BETWEEN (- ?"), std::string::npos) << q.sql;
  EXPECT_NE(q.sql.find(" LIKE ?"), std::string::npos);
}

TEST(DatasetQuery, NothingOfTheTextReachesTheSqlButWhatTheCompilerWrites) {
  // Quotes, semicolons and comments inside literals and quoted names are parameters.
  auto q =
      ok("SELECT 'a''; DROP TABLE telemetry; --' AS s, \"x'); DELETE FROM telemetry; --\" "
         "FROM telemetry -- a comment\n WHERE deviceId = 'it''s'");
  EXPECT_EQ(q.sql.find("DROP"), std::string::npos);
  EXPECT_EQ(q.sql.find("DELETE"), std::string::npos);
  EXPECT_EQ(q.sql.find("comment"), std::string::npos);
  EXPECT_EQ(q.sql.find('\''), std::string::npos) << "no literal quoted in the SQL: " << q.sql;
}

TEST(DatasetQuery, ErrorsSayWhereAndWhat) {
  struct Case {
    const char* text;
    std::size_t position;
    const char* words;
  };
  const Case cases[] = {
      {"", 0, "expected SELECT"},
      {"SELECT", 6, "expected a value"},
      {"SELECT t FROM devices", 14, "the only table is telemetry"},
      {"SELECT t, frob(t) FROM telemetry", 10, "unknown function frob()"},
      {"SELECT t FROM telemetry WHERE sum(t) > 1", 30, "aggregate functions are not allowed"},
      {"SELECT max(min(t)) FROM telemetry", 11, "aggregates cannot be nested"},
      {"SELECT t FROM telemetry; DROP TABLE telemetry", 25, "unexpected text after the query"},
      {"SELECT 'abc FROM telemetry", 7, "unterminated string"},
      {"SELECT t FROM telemetry LIMIT 0", 30, "LIMIT takes an integer"},
      {"SELECT t FROM telemetry LIMIT ?", 30, "unexpected character"},
      {"SELECT t, t FROM telemetry", 10, "two columns are named 't'"},
      {"SELECT round() FROM telemetry", 7, "round() takes 1 to 2 arguments"},
      {"SELECT bucket(t, '2h') FROM telemetry", 7, "bucket(ms, size)"},
      {"SELECT bucket(t, x) FROM telemetry", 7, "bucket(ms, size)"},
      {"SELECT * FROM telemetry GROUP BY deviceId", 24, "SELECT * cannot be grouped"},
      {"SELECT t FROM telemetry ORDER BY 2", 33, "a column number is 1 to 1"},
      {"SELECT 12abc FROM telemetry", 9, "malformed number"},
      {"SELECT t AS select FROM telemetry", 12, "a keyword cannot be a column name"},
      {"SELECT t FROM telemetry GROUP BY count(*)", 33, "not allowed in GROUP BY"},
      {"SELECT t, count(*) FROM telemetry GROUP BY 2", 43, "column 2 is an aggregate"},
      // SQLite's "misuse of aggregate" (a fuzz finding): not an aggregate query.
      {"SELECT t FROM telemetry ORDER BY max(x)", 33, "aggregate functions in ORDER BY"},
      {"SELECT * FROM telemetry ORDER BY t, max(x)", 36, "aggregate functions in ORDER BY"},
  };
  for (const auto& c : cases) {
    auto e = bad(c.text);
    EXPECT_EQ(e.position, c.position) << c.text << ": " << e.message;
    EXPECT_NE(e.message.find(c.words), std::string::npos) << c.text << ": " << e.message;
  }
  EXPECT_EQ(bad("SELECT x FROM telemetry WHERE").to_string().substr(0, 10), "column 30:");
}

TEST(DatasetQuery, HostileInputIsRefusedWithoutExhaustingTheStack) {
  std::string deep =
      "SELECT " + std::string(100000, '(') + "t" + std::string(100000, ')') + " FROM telemetry";
  EXPECT_NE(bad(deep.substr(0, kMaxQueryLength)).message.find("nested deeper"), std::string::npos);
  std::string minus = "SELECT ";  // "- - -": "--" would start a comment
  for (int i = 0; i < 2000; ++i) minus += "- ";
  minus += "t FROM telemetry";
  EXPECT_NE(bad(minus).message.find("nested deeper"), std::string::npos);
  std::string nots = "SELECT t FROM telemetry WHERE ";
  for (int i = 0; i < 1000; ++i) nots += "NOT ";
  nots += "t";
  EXPECT_NE(bad(nots).message.find("nested deeper"), std::string::npos);
  EXPECT_NE(bad(std::string(kMaxQueryLength + 1, ' ')).message.find("at most"), std::string::npos);
  // Nesting SQLite's parser cannot take is refused before SQLite sees it.
  std::string calls =
      "SELECT " + std::string(30 * 4, ' ') + "t" + std::string(30, ')') + " FROM telemetry";
  for (int i = 0; i < 30; ++i) calls.replace(7 + i * 4, 4, "abs(");
  EXPECT_NE(bad(calls).message.find("nested more than 20 levels"), std::string::npos);
  // Long but flat is fine, and SQLite takes it.
  std::string wide = "SELECT t + 1 - 2 + 3 FROM telemetry WHERE t = 1";
  for (int i = 0; i < 500; ++i) wide += " OR t = " + std::to_string(i);
  const auto flat = ok(wide);
  EXPECT_EQ(flat.sql.substr(0, 30), "SELECT (t + ?3 - ?4 + ?5) FROM") << "a flat chain";
  EXPECT_NE(flat.sql.find("((t = ?6) OR (t = ?7) OR (t = ?8) OR"), std::string::npos) << flat.sql;
}

// Runs a compiled query on an in-memory telemetry table: the SQL is valid and means what it says.
TEST(DatasetQuery, CompiledStatementsRunOnSqlite) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "CREATE TABLE telemetry (id INTEGER PRIMARY KEY, device_id TEXT, t INTEGER, "
                   "received_at INTEGER, owner_id TEXT, payload TEXT);"
                   "INSERT INTO telemetry VALUES (1, 'A', 3600000, 1, 'u', '{\"x\": 10}'),"
                   "(2, 'A', 3700000, 2, 'u', '{\"x\": 20}'), (3, 'B', 7300000, 3, 'u', "
                   "'{\"x\": 5, \"s\": \"it''s\"}'), (4, 'B', 7400000, 4, 'u', '{\"x\": 7}');",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  auto q =
      ok("SELECT deviceId, bucket(t, '1h') AS h, sum(x) AS total, count(*) AS n FROM "
         "telemetry WHERE x > 4 AND coalesce(s, '') != 'it''s' GROUP BY deviceId, h ORDER BY "
         "deviceId DESC");
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, q.sql.c_str(), -1, &st, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_bind_int64(st, 1, 1);  // the window: rows 2..4
  sqlite3_bind_int64(st, 2, 4);
  int i = 3;
  for (const auto& p : q.params) {
    if (auto* s = std::get_if<std::string>(&p)) {
      sqlite3_bind_text(st, i++, s->c_str(), -1, SQLITE_TRANSIENT);
    } else if (auto* n = std::get_if<std::int64_t>(&p)) {
      sqlite3_bind_int64(st, i++, *n);
    } else {
      sqlite3_bind_double(st, i++, std::get<double>(p));
    }
  }
  std::vector<std::string> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    rows.push_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + "|" +
                   std::to_string(sqlite3_column_int64(st, 1)) + "|" +
                   std::to_string(sqlite3_column_int64(st, 2)) + "|" +
                   std::to_string(sqlite3_column_int64(st, 3)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  // Row 1 is outside the window, row 3 is filtered out by s.
  EXPECT_EQ(rows, (std::vector<std::string>{"B|7200000|7|1", "A|3600000|20|1"}));
}

}  // namespace
}  // namespace sp::datasets
