#include "store/sqlite/connection.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace sp::sqlite {
namespace {

using test::TempDir;

std::string pragma_text(Connection& conn, const std::string& pragma) {
  auto value = conn.query_value<std::string>("PRAGMA " + pragma);
  EXPECT_TRUE(value.has_value()) << (value ? "" : value.error().detail);
  return value && *value ? **value : "<none>";
}

TEST(ConnectionTest, OpenSetsPragmas) {
  TempDir dir;
  ConnectionOptions options;
  options.busy_timeout_ms = 1234;
  auto conn = Connection::open(dir / "a.db", options);
  ASSERT_TRUE(conn) << conn.error().message;
  EXPECT_EQ(pragma_text(*conn, "journal_mode"), "wal");
  EXPECT_EQ(pragma_text(*conn, "foreign_keys"), "1");
  EXPECT_EQ(pragma_text(*conn, "synchronous"), "2");  // FULL by default
  EXPECT_EQ(pragma_text(*conn, "busy_timeout"), "1234");
  EXPECT_EQ(pragma_text(*conn, "query_only"), "0");

  options.synchronous = Synchronous::kNormal;
  auto normal = Connection::open(dir / "b.db", options);
  ASSERT_TRUE(normal);
  EXPECT_EQ(pragma_text(*normal, "synchronous"), "1");
}

TEST(ConnectionTest, PreparedStatementsAreReusedCleanly) {
  auto conn = Connection::open(":memory:");
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"));
  ASSERT_TRUE(conn->execute("INSERT INTO t VALUES (?1, ?2)", 1, "one"));
  ASSERT_TRUE(conn->execute("INSERT INTO t VALUES (?1, ?2)", 2, "two"));
  const std::string sql = "SELECT v FROM t WHERE k = ?1 OR ?1 IS NULL ORDER BY k";
  {
    auto s = conn->prepare(sql);
    ASSERT_TRUE(s);
    s->bind(1, 2);
    ASSERT_TRUE(*s->step());
    EXPECT_EQ(s->column<std::string>(0), "two");
    // Destroyed mid-iteration: the pooled statement must come back reset.
  }
  {
    auto s = conn->prepare(sql);  // the pooled one: bindings cleared, from the first row
    ASSERT_TRUE(s);
    ASSERT_TRUE(*s->step());
    EXPECT_EQ(s->column<std::string>(0), "one");
    // Two users of the same text at once get two statements.
    auto t = conn->prepare(sql);
    ASSERT_TRUE(t);
    t->bind(1, 2);
    ASSERT_TRUE(*t->step());
    EXPECT_EQ(t->column<std::string>(0), "two");
    EXPECT_EQ(s->column<std::string>(0), "one");
  }
  // Writes through a pooled statement see the latest data.
  ASSERT_TRUE(conn->execute("INSERT INTO t VALUES (?1, ?2)", 3, "three"));
  auto n = conn->query_value<std::int64_t>("SELECT count(*) FROM t");
  ASSERT_TRUE(n && *n);
  EXPECT_EQ(**n, 3);
  // Many distinct texts stay bounded and keep working.
  for (int i = 0; i < 200; ++i) {
    auto v = conn->query_value<std::int64_t>("SELECT " + std::to_string(i));
    ASSERT_TRUE(v && *v);
    EXPECT_EQ(**v, i);
  }
}

TEST(ConnectionTest, StatementMayOutliveItsConnection) {
  std::unique_ptr<Statement> kept;
  {
    auto conn = Connection::open(":memory:");
    ASSERT_TRUE(conn);
    auto s = conn->prepare("SELECT 1");
    ASSERT_TRUE(s);
    kept = std::make_unique<Statement>(std::move(*s));
    auto idle = conn->prepare("SELECT 2");  // returned to the pool, finalized at close
    ASSERT_TRUE(idle);
  }
  kept.reset();  // finalized, not pooled: the connection is closed
}

TEST(ConnectionTest, CreatesPrivateFiles) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->exec("CREATE TABLE t(x INTEGER) STRICT; INSERT INTO t VALUES (1);"));
  for (const char* name : {"a.db", "a.db-wal"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
}

TEST(ConnectionTest, BindsAndReadsEveryType) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  ASSERT_TRUE(
      conn->exec("CREATE TABLE t(i INTEGER NOT NULL, r REAL, s TEXT, b BLOB, o INTEGER) STRICT"));

  const std::vector<std::byte> blob = {std::byte{0}, std::byte{0xff}, std::byte{7}};
  auto insert = conn->prepare("INSERT INTO t(i, r, s, b, o) VALUES (?, ?, ?, ?, ?)");
  ASSERT_TRUE(insert);
  std::optional<std::int64_t> none;
  // Text with an embedded quote and NUL: only binding (never string building) gets this right.
  const std::string tricky = std::string("it's \0 ok", 9);
  insert->bind_all(std::int64_t{1} << 40, 2.5, tricky, blob, none);
  ASSERT_TRUE(insert->run());
  EXPECT_EQ(conn->changes(), 1);
  insert->reset().bind_all(7, 0.0, "x", std::vector<std::byte>{}, std::optional<int>(9));
  ASSERT_TRUE(insert->run());

  auto named = conn->prepare("INSERT INTO t(i, s, o) VALUES (:i, :s, :o)");
  ASSERT_TRUE(named);
  named->bind(":i", 8).bind(":s", std::string("named")).bind(":o", std::nullopt);
  ASSERT_TRUE(named->run());

  auto select = conn->prepare("SELECT i, r, s, b, o FROM t ORDER BY rowid");
  ASSERT_TRUE(select);
  ASSERT_EQ(select->step().value_or(false), true);
  EXPECT_EQ(select->column<std::int64_t>(0), std::int64_t{1} << 40);
  EXPECT_DOUBLE_EQ(select->column<double>(1), 2.5);
  EXPECT_EQ(select->column<std::string>(2), tricky);
  EXPECT_EQ(select->column<std::vector<std::byte>>(3), blob);
  EXPECT_TRUE(select->column_is_null(4));
  EXPECT_EQ(select->column<std::optional<int>>(4), std::nullopt);

  ASSERT_EQ(select->step().value_or(false), true);
  EXPECT_EQ(select->column<int>(0), 7);
  EXPECT_FALSE(select->column_is_null(3));  // empty blob stays a blob, not NULL
  EXPECT_TRUE(select->column<std::vector<std::byte>>(3).empty());
  EXPECT_EQ(select->column<std::optional<int>>(4), std::optional<int>(9));

  ASSERT_EQ(select->step().value_or(false), true);
  EXPECT_EQ(select->column<std::string>(2), "named");
  EXPECT_TRUE(select->column<std::optional<double>>(1) == std::nullopt);

  ASSERT_EQ(select->step().value_or(true), false);

  auto count = conn->query_value<int>("SELECT count(*) FROM t WHERE i > ?", 7);
  ASSERT_TRUE(count);
  EXPECT_EQ(count->value_or(-1), 2);
  auto missing = conn->query_value<std::string>("SELECT s FROM t WHERE i = ?", 12345);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST(ConnectionTest, BindErrorsSurfaceAtStep) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->exec("CREATE TABLE t(x INTEGER) STRICT"));
  auto stmt = conn->prepare("INSERT INTO t(x) VALUES (:x)");
  ASSERT_TRUE(stmt);
  stmt->bind(":nope", 1);
  auto result = stmt->run();
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().detail.find(":nope"), std::string::npos);

  stmt->reset().bind(5, 1);  // index out of range
  EXPECT_FALSE(stmt->run());

  stmt->reset().bind(":x", 3);  // reset clears the remembered error
  EXPECT_TRUE(stmt->run());
}

TEST(ConnectionTest, RejectsMultipleStatementsAndBadSql) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  EXPECT_FALSE(conn->prepare("SELECT 1; SELECT 2"));
  EXPECT_TRUE(conn->prepare("SELECT 1; -- trailing comment"));
  auto bad = conn->prepare("SELEKT 1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInternal);
  EXPECT_EQ(bad.error().message.find("SELEKT"), std::string::npos);  // SQL only in detail
  EXPECT_NE(bad.error().detail.find("SELEKT"), std::string::npos);
}

TEST(ConnectionTest, ConstraintViolationsAreConflicts) {
  TempDir dir;
  auto conn = Connection::open(dir / "a.db");
  ASSERT_TRUE(conn);
  ASSERT_TRUE(
      conn->exec("CREATE TABLE p(id INTEGER PRIMARY KEY) STRICT;"
                 "CREATE TABLE c(pid INTEGER NOT NULL REFERENCES p(id)) STRICT;"
                 "INSERT INTO p VALUES (1);"));
  auto dup = conn->execute("INSERT INTO p VALUES (?)", 1);
  ASSERT_FALSE(dup);
  EXPECT_TRUE(is_constraint_violation(dup.error()));
  EXPECT_EQ(dup.error().kind, ErrorKind::kConflict);
  // foreign_keys=ON is in force
  auto orphan = conn->execute("INSERT INTO c VALUES (?)", 42);
  ASSERT_FALSE(orphan);
  EXPECT_TRUE(is_constraint_violation(orphan.error()));
  // STRICT rejects a wrong type
  EXPECT_FALSE(conn->execute("INSERT INTO p VALUES (?)", "abc"));
}

TEST(ConnectionTest, QueryOnlyRefusesWrites) {
  TempDir dir;
  {
    auto writer = Connection::open(dir / "a.db");
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->exec("CREATE TABLE t(x INTEGER) STRICT"));
  }
  ConnectionOptions options;
  options.query_only = true;
  auto reader = Connection::open(dir / "a.db", options);
  ASSERT_TRUE(reader);
  EXPECT_FALSE(reader->execute("INSERT INTO t VALUES (?)", 1));
  EXPECT_FALSE(reader->exec("CREATE TABLE u(x INTEGER) STRICT"));
  EXPECT_TRUE(reader->query_value<int>("SELECT count(*) FROM t"));
}

TEST(ConnectionTest, MissingDirectoryNamesIt) {
  TempDir dir;
  const auto file = dir / "nope" / "a.db";
  auto conn = Connection::open(file);
  ASSERT_FALSE(conn);
  EXPECT_NE(conn.error().message.find(file.string()), std::string::npos) << conn.error().message;
  EXPECT_NE(conn.error().message.find("does not exist"), std::string::npos) << conn.error().message;
}

TEST(ConnectionTest, NotADatabaseNamesFile) {
  TempDir dir;
  const auto file = dir / "junk.db";
  {
    std::ofstream out(file);
    out << std::string(4096, 'x');
  }
  auto conn = Connection::open(file);
  ASSERT_FALSE(conn);
  EXPECT_NE(conn.error().message.find(file.string()), std::string::npos) << conn.error().message;
  EXPECT_NE(conn.error().message.find("not a database"), std::string::npos) << conn.error().message;
}

TEST(ConnectionTest, ReadOnlyDirectoryIsAClearError) {
  TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all |
                                               std::filesystem::perms::group_exec |
                                               std::filesystem::perms::others_exec);
  const auto ro = dir / "ro";
  std::filesystem::create_directory(ro);
  std::filesystem::permissions(
      ro, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec |
              std::filesystem::perms::group_exec | std::filesystem::perms::others_exec);
  const auto file = ro / "a.db";
  EXPECT_TRUE(test::run_unprivileged([&] {
    auto conn = Connection::open(file);
    if (conn) return false;
    std::cerr << "error: " << conn.error().message << "\n";
    return conn.error().message.find(file.string()) != std::string::npos &&
           conn.error().message.find("not writable") != std::string::npos;
  }));
}

TEST(ConnectionTest, InMemoryDatabase) {
  auto conn = Connection::open(":memory:");
  ASSERT_TRUE(conn) << conn.error().message;
  EXPECT_FALSE(std::filesystem::exists(":memory:"));
  ASSERT_TRUE(conn->exec("CREATE TABLE t(x INTEGER) STRICT"));
  ASSERT_TRUE(conn->execute("INSERT INTO t VALUES (?)", 4));
  EXPECT_EQ(conn->query_value<int>("SELECT x FROM t")->value_or(0), 4);
  EXPECT_EQ(pragma_text(*conn, "foreign_keys"), "1");
}

TEST(ConnectionTest, ParsesSynchronous) {
  EXPECT_EQ(parse_synchronous("FULL").value(), Synchronous::kFull);
  EXPECT_EQ(parse_synchronous("normal").value(), Synchronous::kNormal);
  EXPECT_EQ(parse_synchronous("off").value(), Synchronous::kOff);
  EXPECT_EQ(parse_synchronous("extra").value(), Synchronous::kExtra);
  EXPECT_FALSE(parse_synchronous("fast"));
}

}  // namespace
}  // namespace sp::sqlite
