#include "store/sqlite/store.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iostream>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace sp::sqlite {
namespace {

using test::TempDir;

StoreConfig config_for(const std::filesystem::path& data_dir) {
  StoreConfig config{data_dir, 2000, 64, Synchronous::kFull};
  return config;
}

TEST(StoreTest, CreatesDataDirAndBothDatabases) {
  TempDir dir;
  const auto data = dir / "data" / "nested";
  std::string id;
  {
    auto store = open_store(config_for(data));
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_TRUE((*store)->healthy());
    id = (*store)->instance_id();
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_TRUE(std::filesystem::exists(data / kMainDatabaseFile));
    EXPECT_TRUE(std::filesystem::exists(data / kTelemetryDatabaseFile));
    struct stat st {};
    ASSERT_EQ(::stat(data.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);

    auto schema = (*store)->telemetry().read([](Connection& c) {
      return c.query_value<std::string>("SELECT value FROM instance_meta WHERE key = 'schema'");
    });
    ASSERT_TRUE(schema);
    EXPECT_EQ(schema->value_or(""), "telemetry");
    (*store)->close();
    EXPECT_FALSE((*store)->healthy());
  }
  auto reopened = open_store(config_for(data));
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->instance_id(), id);
  // The migrations ran once: instance_meta still has schema, instance_id, created_at and the CA
  // registration code of 0005, not twice as many.
  auto created = (*reopened)->main().read(
      [](Connection& c) { return c.query_value<int>("SELECT count(*) FROM instance_meta"); });
  ASSERT_TRUE(created);
  EXPECT_EQ(created->value_or(-1), 4);
}

TEST(StoreTest, RefusesSwappedDatabaseFiles) {
  TempDir dir;
  {
    auto store = open_store(config_for(dir.path()));
    ASSERT_TRUE(store);
  }
  std::filesystem::remove(dir / kMainDatabaseFile);
  std::filesystem::copy_file(dir / kTelemetryDatabaseFile, dir / kMainDatabaseFile);
  auto store = open_store(config_for(dir.path()));
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("not a main database"), std::string::npos)
      << store.error().message;
}

TEST(StoreTest, DataDirThatIsAFileIsAnError) {
  TempDir dir;
  std::ofstream(dir / "file") << "x";
  auto store = open_store(config_for(dir / "file"));
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find((dir / "file").string()), std::string::npos);
}

TEST(StoreTest, ReadOnlyDataDirIsAClearError) {
  TempDir dir;
  namespace fs = std::filesystem;
  fs::permissions(dir.path(),
                  fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const auto data = dir / "data";
  fs::create_directory(data);
  fs::permissions(data, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                            fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
  EXPECT_TRUE(test::run_unprivileged([&] {
    auto store = open_store(config_for(data));
    if (store) return false;
    std::cerr << "error: " << store.error().message << "\n";
    return store.error().message.find(data.string()) != std::string::npos &&
           store.error().message.find("not writable") != std::string::npos;
  }));
  EXPECT_FALSE(fs::exists(data / kMainDatabaseFile));
}

}  // namespace
}  // namespace sp::sqlite
