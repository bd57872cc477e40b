// The SQLite SettingsRepository: the seed's Settings rows, including the app-config row the
// migration creates.

#include <gtest/gtest.h>

#include "../main_db.hpp"
#include "../test_util.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::sqlite {
namespace {

class SettingsRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = make_settings_repository(db_);
  }
  void TearDown() override {
    repo_.reset();
    if (db_) db_->close();
  }
  test::TempDir dir_;
  std::shared_ptr<Database> db_;
  std::unique_ptr<store::SettingsRepository> repo_;
};

TEST_F(SettingsRepositoryTest, MigrationCreatesAppConfig) {
  auto row = repo_->find("app-config");
  ASSERT_TRUE(row);
  ASSERT_TRUE(row->has_value());
  EXPECT_TRUE((*row)->setting.is_object());
  EXPECT_GT((*row)->created_at_ms, 1600000000000);
}

TEST_F(SettingsRepositoryTest, InsertIfAbsentKeepsExistingRow) {
  const nlohmann::json first = {{"alertLevel", {"error"}}, {"sendNotification", true}};
  auto inserted = repo_->insert_if_absent("u1", first, 1000);
  ASSERT_TRUE(inserted);
  EXPECT_TRUE(*inserted);
  auto again = repo_->insert_if_absent("u1", nlohmann::json::object(), 2000);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  auto row = repo_->find("u1");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->setting, first);
  EXPECT_EQ((*row)->created_at_ms, 1000);
  EXPECT_EQ((*row)->updated_at_ms, 1000);
}

TEST_F(SettingsRepositoryTest, ReplaceUpdatesOnlyExistingRows) {
  ASSERT_TRUE(repo_->insert_if_absent("u1", nlohmann::json::object(), 1000));
  const nlohmann::json next = {{"alertLevel", {"info"}}, {"sendNotification", false}};
  auto updated = repo_->replace("u1", next, 5000);
  ASSERT_TRUE(updated);
  ASSERT_TRUE(updated->has_value());
  EXPECT_EQ((*updated)->setting, next);
  EXPECT_EQ((*updated)->created_at_ms, 1000);
  EXPECT_EQ((*updated)->updated_at_ms, 5000);

  auto missing = repo_->replace("nobody", next, 5000);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  auto row = repo_->find("nobody");
  ASSERT_TRUE(row);
  EXPECT_FALSE(row->has_value()) << "replace must not create rows";

  auto removed = repo_->remove("u1");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  removed = repo_->remove("u1");
  ASSERT_TRUE(removed);
  EXPECT_FALSE(*removed);
}

}  // namespace
}  // namespace sp::sqlite
