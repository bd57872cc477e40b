// Upgrades: every database a released version wrote must migrate to the newest schema with its
// data intact, and a released migration's text never changes (a changed one would leave databases
// that ran the old text different from new ones, silently).

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/sqlite/migrations.hpp"
#include "test_util.hpp"

namespace sp::sqlite {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = SP_SOURCE_DIR;
const fs::path kFixtures = kSource / "tests/unit/store/schema_fixtures";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::map<std::string, long long> row_counts(Connection& conn) {
  std::map<std::string, long long> counts;
  std::vector<std::string> tables;
  auto list = conn.prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
  EXPECT_TRUE(list);
  while (list) {
    auto row = list->step();
    if (!row || !*row) break;
    tables.push_back(list->column<std::string>(0));
  }
  for (const auto& table : tables) {
    auto n = conn.query_value<long long>("SELECT count(*) FROM \"" + table + "\"");
    counts[table] = n && *n ? **n : -1;
  }
  return counts;
}

TEST(UpgradeTest, EveryFixtureMigratesToTheNewestSchemaWithItsRows) {
  const std::regex name(R"(([a-z]+)-v(\d{4})\.sql)");
  int fixtures = 0;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    std::smatch m;
    const std::string file = entry.path().filename().string();
    if (!std::regex_match(file, m, name)) continue;
    ++fixtures;
    const std::string schema = m[1];
    const int version = std::stoi(m[2]);
    SCOPED_TRACE(file);

    test::TempDir dir;
    auto conn = Connection::open(dir / "db.sqlite");
    ASSERT_TRUE(conn);
    ASSERT_TRUE(conn->exec(read_file(entry.path())));
    auto written = conn->query_value<int>("PRAGMA user_version");
    ASSERT_TRUE(written && *written);
    ASSERT_EQ(**written, version) << "the fixture's user_version must match its file name";
    const auto before = row_counts(*conn);

    const auto migrations = embedded_migrations(schema);
    ASSERT_FALSE(migrations.empty());
    ASSERT_TRUE(apply_migrations(*conn, migrations));

    auto now = conn->query_value<int>("PRAGMA user_version");
    ASSERT_TRUE(now && *now);
    EXPECT_EQ(**now, migrations.back().version);
    auto integrity = conn->query_value<std::string>("PRAGMA integrity_check");
    ASSERT_TRUE(integrity && *integrity);
    EXPECT_EQ(**integrity, "ok");
    auto fk = conn->query_value<std::string>("SELECT \"table\" FROM pragma_foreign_key_check");
    ASSERT_TRUE(fk);
    EXPECT_FALSE(fk->has_value()) << "foreign key broken in " << fk->value_or("");
    // No migration may lose rows of a table that existed (a table dropped on purpose must be
    // taken out of this check in the same change, where a reviewer sees it).
    const auto after = row_counts(*conn);
    for (const auto& [table, rows] : before) {
      ASSERT_TRUE(after.count(table)) << table << " disappeared";
      EXPECT_GE(after.at(table), rows) << table;
    }
  }
  EXPECT_GE(fixtures, 2);
}

TEST(UpgradeTest, ReleasedMigrationsNeverChange) {
  std::ifstream list(kFixtures / "released-migrations.txt");
  ASSERT_TRUE(list);
  std::string line;
  int checked = 0;
  while (std::getline(list, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string schema, file, sha;
    ASSERT_TRUE(fields >> schema >> file >> sha) << line;
    const auto path = kSource / "src/store/sqlite/migrations" / schema / file;
    ASSERT_TRUE(fs::exists(path)) << path << " was released and must stay";
    EXPECT_EQ(sha256_hex(read_file(path)), sha)
        << path << " changed after it was released: add a new migration instead";
    ++checked;
  }
  EXPECT_GE(checked, 12);
}

}  // namespace
}  // namespace sp::sqlite
