// The SQLite ShadowRepository: round trip, compare-and-set (exactly one of two writers that loaded
// the same row wins), tombstones, persistence across a reopen, and the shadow service on top of it
// with concurrent writers.

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../main_db.hpp"
#include "../test_util.hpp"
#include "smartproduct/shadow/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::sqlite {
namespace {

using nlohmann::json;
using store::ShadowRecord;
using store::ShadowStamp;

ShadowRecord record(const char* id, std::int64_t version, json reported, bool deleted = false) {
  ShadowRecord r;
  r.device_id = id;
  r.state = {{"desired", json::object()}, {"reported", std::move(reported)}};
  r.metadata = {{"desired", json::object()}, {"reported", json::object()}};
  r.version = version;
  r.updated_at_s = 1700000000 + version;
  r.deleted = deleted;
  return r;
}

class ShadowRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = make_shadow_repository(db_);
  }
  void TearDown() override {
    repo_.reset();
    if (db_) db_->close();
  }
  test::TempDir dir_;
  std::shared_ptr<Database> db_;
  std::unique_ptr<store::ShadowRepository> repo_;
};

TEST_F(ShadowRepositoryTest, MissingDeviceLoadsNothing) {
  auto r = repo_->load("SN1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->has_value());
}

TEST_F(ShadowRepositoryTest, InsertThenLoadRoundTrips) {
  auto rec = record("SN1", 1, json{{"t", 70.5}, {"l", {1, 2}}});
  rec.metadata["reported"] = {{"t", {{"timestamp", 1700000001}}}};
  auto saved = repo_->save(rec, std::nullopt);
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_TRUE(*saved);
  auto loaded = repo_->load("SN1");
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->device_id, "SN1");
  EXPECT_EQ((*loaded)->state, rec.state);
  EXPECT_EQ((*loaded)->metadata, rec.metadata);
  EXPECT_EQ((*loaded)->version, 1);
  EXPECT_EQ((*loaded)->updated_at_s, 1700000001);
  EXPECT_FALSE((*loaded)->deleted);
}

TEST_F(ShadowRepositoryTest, CompareAndSetLetsExactlyOneWriterWin) {
  ASSERT_TRUE(repo_->save(record("SN1", 1, json{{"a", 1}}), std::nullopt));
  const ShadowStamp seen{1, false};
  auto first = repo_->save(record("SN1", 2, json{{"a", 2}}), seen);
  auto second = repo_->save(record("SN1", 2, json{{"a", 3}}), seen);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*second);
  EXPECT_EQ(repo_->load("SN1").value()->state["reported"]["a"], 2);
}

TEST_F(ShadowRepositoryTest, InsertLosesWhenARowExists) {
  ASSERT_TRUE(repo_->save(record("SN1", 1, json{{"a", 1}}), std::nullopt));
  auto again = repo_->save(record("SN1", 1, json{{"a", 9}}), std::nullopt);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(repo_->load("SN1").value()->state["reported"]["a"], 1);
}

TEST_F(ShadowRepositoryTest, TombstoneKeepsTheVersionAndIsDistinctFromTheLiveRow) {
  ASSERT_TRUE(repo_->save(record("SN1", 4, json{{"a", 1}}), std::nullopt));
  ASSERT_TRUE(repo_->save(record("SN1", 4, json::object(), true), ShadowStamp{4, false}).value());
  auto loaded = repo_->load("SN1");
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_TRUE((*loaded)->deleted);
  EXPECT_EQ((*loaded)->version, 4);
  // A writer that loaded the live row at version 4 before the delete must not resurrect it.
  EXPECT_FALSE(repo_->save(record("SN1", 5, json{{"a", 2}}), ShadowStamp{4, false}).value());
  EXPECT_TRUE(repo_->save(record("SN1", 5, json{{"b", 1}}), ShadowStamp{4, true}).value());
}

TEST_F(ShadowRepositoryTest, SurvivesAReopen) {
  ASSERT_TRUE(repo_->save(record("SN1", 3, json{{"a", 1}}), std::nullopt));
  repo_.reset();
  db_->close();
  db_ = test::open_main_database(dir_);
  ASSERT_TRUE(db_);
  repo_ = make_shadow_repository(db_);
  auto loaded = repo_->load("SN1");
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->version, 3);
}

TEST_F(ShadowRepositoryTest, InvalidRowsAreRefusedByTheSchema) {
  auto bad = record("", 1, json::object());
  auto r = repo_->save(bad, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_constraint_violation(r.error()));
}

class WallClock final : public Clock {
 public:
  int64_t now_ms() const override { return 1700000000000; }
};

TEST_F(ShadowRepositoryTest, ServiceUnderConcurrentWritersLosesNoUpdate) {
  WallClock clock;
  shadow::ShadowService service(*repo_, clock);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = "k" + std::to_string(t) + "_" + std::to_string(i);
        auto r = service.update("SN1", json{{"state", {{"reported", {{key, i}}}}}}.dump());
        if (!r) {
          ++failures;
          ADD_FAILURE() << r.error().code << " " << r.error().message << " " << r.error().detail;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto doc = service.find("SN1");
  ASSERT_TRUE(doc && *doc);
  // Every update applied exactly once: one version per update and every key present.
  EXPECT_EQ((*doc)->version, kThreads * kPerThread);
  EXPECT_EQ((*doc)->reported.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST_F(ShadowRepositoryTest, ServiceShadowSurvivesRestart) {
  WallClock clock;
  {
    shadow::ShadowService service(*repo_, clock);
    ASSERT_TRUE(service.update("SN1", R"({"state":{"desired":{"t":72},"reported":{"t":70}}})"));
  }
  repo_.reset();
  db_->close();
  db_ = test::open_main_database(dir_);
  ASSERT_TRUE(db_);
  repo_ = make_shadow_repository(db_);
  shadow::ShadowService service(*repo_, clock);
  auto got = service.get("SN1");
  ASSERT_TRUE(got) << got.error().message;
  json doc = json::parse(*got);
  EXPECT_EQ(doc["state"]["delta"]["t"], 72);
  EXPECT_EQ(doc["version"], 1);
}

}  // namespace
}  // namespace sp::sqlite
