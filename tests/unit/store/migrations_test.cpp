#include "store/sqlite/migrations.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace sp::sqlite {
namespace {

using test::TempDir;

int count_rows(Connection& conn, const std::string& table) {
  auto n = conn.query_value<int>("SELECT count(*) FROM " + table);
  EXPECT_TRUE(n) << (n ? "" : n.error().detail);
  return n && *n ? **n : -1;
}

bool table_exists(Connection& conn, const std::string& name) {
  auto n = conn.query_value<int>("SELECT count(*) FROM sqlite_schema WHERE name = ?", name);
  return n && *n && **n == 1;
}

const std::vector<Migration> kTwo = {
    {1, "0001_a.sql", "CREATE TABLE a(x INTEGER) STRICT; INSERT INTO a VALUES (1);"},
    {2, "0002_b.sql", "CREATE TABLE b(y TEXT) STRICT;"},
};

TEST(MigrationsTest, EmbeddedSetsAreNumberedAndStrict) {
  auto schemas = embedded_schemas();
  EXPECT_NE(std::find(schemas.begin(), schemas.end(), "main"), schemas.end());
  EXPECT_NE(std::find(schemas.begin(), schemas.end(), "telemetry"), schemas.end());
  for (const auto& schema : schemas) {
    auto migrations = embedded_migrations(schema);
    ASSERT_FALSE(migrations.empty()) << schema;
    for (std::size_t i = 0; i < migrations.size(); ++i) {
      EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1) << schema;
      EXPECT_FALSE(migrations[i].sql.empty()) << migrations[i].name;
    }
  }
  auto main = embedded_migrations("main");
  EXPECT_EQ(main[0].name, "0001_instance.sql");
  EXPECT_NE(main[0].sql.find("instance_meta"), std::string::npos);
  EXPECT_TRUE(embedded_migrations("no_such_schema").empty());
}

TEST(MigrationsTest, EmbeddedMigrationsCreateOnlyStrictTables) {
  for (const auto& schema : embedded_schemas()) {
    TempDir dir;
    auto conn = Connection::open(dir / "a.db");
    ASSERT_TRUE(conn);
    auto migrations = embedded_migrations(schema);
    ASSERT_TRUE(apply_migrations(*conn, migrations)) << schema;
    auto non_strict = conn->query_value<std::string>(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' "
        "AND strict = 0 AND name NOT LIKE 'sqlite_%'");
    ASSERT_TRUE(non_strict);
    EXPECT_FALSE(non_strict->has_value())
        << schema << ": table " << non_strict->value_or("") << " is not STRICT";
  }
}

TEST(MigrationsTest, AppliesInOrderAndIsIdempotent) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  EXPECT_EQ(user_version(*conn).value(), 0);

  auto first = apply_migrations(*conn, std::span(kTwo).first(1));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, 1);
  EXPECT_FALSE(table_exists(*conn, "b"));

  auto second = apply_migrations(*conn, kTwo);  // a later binary with one more migration
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, 2);
  EXPECT_TRUE(table_exists(*conn, "b"));

  auto again = apply_migrations(*conn, kTwo);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 2);
  EXPECT_EQ(count_rows(*conn, "a"), 1);  // 0001 did not run twice
  EXPECT_EQ(user_version(*conn).value(), 2);
}

TEST(MigrationsTest, FailingMigrationRollsBackAlone) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  const std::vector<Migration> broken = {
      kTwo[0],
      {2, "0002_broken.sql", "CREATE TABLE c(z INTEGER) STRICT; INSERT INTO nowhere VALUES (1);"},
  };
  auto result = apply_migrations(*conn, broken);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("0002_broken.sql"), std::string::npos)
      << result.error().message;
  EXPECT_EQ(user_version(*conn).value(), 1);  // 0001 committed, 0002 rolled back entirely
  EXPECT_TRUE(table_exists(*conn, "a"));
  EXPECT_FALSE(table_exists(*conn, "c"));
  EXPECT_FALSE(conn->in_transaction());
}

TEST(MigrationsTest, RefusesNewerDatabase) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->exec("PRAGMA user_version=7"));
  auto result = apply_migrations(*conn, kTwo);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("newer"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find((dir / "a.db").string()), std::string::npos);
  EXPECT_FALSE(table_exists(*conn, "a"));
  EXPECT_EQ(user_version(*conn).value(), 7);
}

TEST(MigrationsTest, RejectsBadNumberingAndOwnTransactions) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  const std::vector<Migration> gap = {kTwo[0], {3, "0003_c.sql", "SELECT 1;"}};
  EXPECT_FALSE(apply_migrations(*conn, gap));
  EXPECT_EQ(user_version(*conn).value(), 0);

  const std::vector<Migration> commits = {
      {1, "0001_commit.sql", "CREATE TABLE d(x INTEGER) STRICT; COMMIT;"}};
  auto result = apply_migrations(*conn, commits);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("0001_commit.sql"), std::string::npos);
}

TEST(MigrationsTest, ForeignKeyViolationsFailTheMigration) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  // Deferred foreign keys are only checked at COMMIT; the runner checks before bumping the version.
  const std::vector<Migration> bad = {{1, "0001_fk.sql",
                                       "PRAGMA defer_foreign_keys=ON;"
                                       "CREATE TABLE p(id INTEGER PRIMARY KEY) STRICT;"
                                       "CREATE TABLE c(pid INTEGER REFERENCES p(id)) STRICT;"
                                       "INSERT INTO c VALUES (5);"}};
  EXPECT_FALSE(apply_migrations(*conn, bad));
  EXPECT_EQ(user_version(*conn).value(), 0);
  EXPECT_FALSE(table_exists(*conn, "c"));
}

}  // namespace
}  // namespace sp::sqlite
