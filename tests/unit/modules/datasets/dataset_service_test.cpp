// The dataset service over the real SQLite store (both databases): runs write complete files,
// read only what is new, start over on a replaced telemetry.db, fail without leaving files or
// moving the watermark, and retention deletes expired runs with their files.

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "../../store/test_util.hpp"
#include "fakes/fixed_clock.hpp"
#include "smartproduct/datasets/service.hpp"
#include "store/sqlite/repositories/dataset_repository.hpp"
#include "store/sqlite/store.hpp"

namespace sp::datasets {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class DatasetServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = sqlite::open_store(sqlite::StoreConfig{dir_.path() / "data", 5000, 512});
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    repo_ = sqlite::make_dataset_repository(store_->main_ptr());
    source_ = sqlite::make_dataset_source(store_->telemetry_ptr());
    DatasetsSettings settings;
    settings.dir = dir_.path() / "datasets";
    settings.max_datasets = 5;
    service_ = std::make_unique<DatasetService>(settings, *repo_, *source_, clock_);
  }

  void add(const std::string& device, std::int64_t t, const std::string& payload) {
    auto r = store_->telemetry().write([&](sqlite::Connection& c) {
      return c.execute(
          "INSERT INTO telemetry (device_id, device_ts, received_at, payload, t, owner_id) "
          "VALUES (?1, ?2, ?2, ?3, ?2, 'u')",
          device, t, payload);
    });
    ASSERT_TRUE(r) << r.error().message;
  }

  store::DatasetRun run(const std::string& name) {
    auto id = service_->start_run(name, "manual");
    EXPECT_TRUE(id) << id.error().message;
    auto r = service_->execute(name, *id);
    EXPECT_TRUE(r) << r.error().message << " " << r.error().detail;
    return r ? *r : store::DatasetRun{};
  }

  std::string file_of(const std::string& name, std::int64_t id) {
    auto p = service_->run_file(name, id);
    EXPECT_TRUE(p);
    return p ? slurp(*p) : "";
  }

  sqlite::test::TempDir dir_;
  test::FixedClock clock_;
  std::unique_ptr<sqlite::Store> store_;
  std::unique_ptr<store::DatasetRepository> repo_;
  std::unique_ptr<store::DatasetSource> source_;
  std::unique_ptr<DatasetService> service_;
};

TEST_F(DatasetServiceTest, TheSeedsDatasetExistsAndGetsItsNextRunAtStart) {
  auto d = service_->get("smartproduct_dataset");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->query, "SELECT * FROM telemetry");
  EXPECT_EQ(d->format, "csv");
  EXPECT_FALSE(d->next_run_at_ms);
  ASSERT_TRUE(service_->recover());
  d = service_->get("smartproduct_dataset");
  EXPECT_EQ(d->next_run_at_ms, (clock_.now_ms() / 3600000 + 1) * 3600000);
}

TEST_F(DatasetServiceTest, SelectStarAsCsvThenOnlyTheNewRows) {
  add("A", 1000, R"({"x": 1.5, "s": "=cmd", "deviceId": "A", "nested": {"k": [1, 2]}})");
  add("B", 2000, R"({"x": -2, "y": "a,b"})");
  auto first = run("smartproduct_dataset");
  EXPECT_EQ(first.rows, 2);
  EXPECT_EQ(first.from_row, 0);
  EXPECT_EQ(first.to_row, 2);
  EXPECT_EQ(first.columns,
            nlohmann::json({"deviceId", "t", "receivedAt", "nested", "s", "x", "y"}));
  EXPECT_EQ(file_of("smartproduct_dataset", first.id),
            "deviceId,t,receivedAt,nested,s,x,y\r\n"
            "A,1000,1000,\"{\"\"k\"\":[1,2]}\",\"'=cmd\",1.5,\r\n"
            "B,2000,2000,,,-2,\"a,b\"\r\n");
  auto second = run("smartproduct_dataset");
  EXPECT_EQ(second.rows, 0);
  EXPECT_EQ(file_of("smartproduct_dataset", second.id), "deviceId,t,receivedAt\r\n");
  add("C", 3000, R"({"x": 3})");
  auto third = run("smartproduct_dataset");
  EXPECT_EQ(third.from_row, 2);
  EXPECT_EQ(file_of("smartproduct_dataset", third.id),
            "deviceId,t,receivedAt,x\r\nC,3000,3000,3\r\n");
}

TEST_F(DatasetServiceTest, JsonLinesOfAnAggregate) {
  DatasetChange c;
  c.query =
      "SELECT deviceId, count(*) AS n, avg(x) AS mean, min(s) AS s FROM telemetry GROUP BY "
      "deviceId ORDER BY deviceId";
  c.format = "jsonl";
  ASSERT_TRUE(service_->create("agg", c));
  add("A", 1, R"({"x": 1})");
  add("A", 2, R"({"x": 2, "s": "q\"uote"})");
  add("B", 3, R"({"x": 10})");
  auto r = run("agg");
  EXPECT_EQ(file_of("agg", r.id),
            "{\"deviceId\":\"A\",\"n\":2,\"mean\":1.5,\"s\":\"q\\\"uote\"}\n"
            "{\"deviceId\":\"B\",\"n\":1,\"mean\":10.0,\"s\":null}\n");
}

TEST_F(DatasetServiceTest, AReplacedTelemetryDatabaseStartsOver) {
  add("A", 1, R"({"x": 1})");
  auto first = run("smartproduct_dataset");
  EXPECT_EQ(first.rows, 1);
  // Another telemetry.db (restored, recreated): its instance id differs.
  auto w = store_->telemetry().write([](sqlite::Connection& c) {
    return c.execute("UPDATE instance_meta SET value = 'another' WHERE key = 'instance_id'");
  });
  ASSERT_TRUE(w);
  add("A", 2, R"({"x": 2})");
  auto again = run("smartproduct_dataset");
  EXPECT_EQ(again.from_row, 0);
  EXPECT_EQ(again.rows, 2);
}

// A clock that moves one second each time it is read: a run that asks it often runs "long".
class RacingClock final : public Clock {
 public:
  std::int64_t now_ms() const override { return t_.fetch_add(1000) + 1000; }

 private:
  mutable std::atomic<std::int64_t> t_{test::FixedClock::kDefaultNowMs};
};

TEST_F(DatasetServiceTest, ARunOverItsLimitsFailsAndKeepsNothing) {
  for (int i = 0; i < 3000; ++i) add("A", i + 1, R"({"x": 1, "pad": "0123456789abcdef"})");
  DatasetsSettings settings;
  settings.dir = dir_.path() / "datasets";
  settings.max_run_bytes = 4096;  // the file would be ~120 KB
  DatasetService small(settings, *repo_, *source_, clock_);
  auto id = small.start_run("smartproduct_dataset", "manual");
  ASSERT_TRUE(id);
  auto r = small.execute("smartproduct_dataset", *id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "DatasetRunLimit");
  EXPECT_NE(r.error().message.find("max_run_bytes"), std::string::npos);
  auto runs = small.runs("smartproduct_dataset", 10, std::nullopt);
  ASSERT_TRUE(runs);
  EXPECT_EQ(runs->front().status, "failed");
  EXPECT_TRUE(std::filesystem::is_empty(settings.dir / "smartproduct_dataset"));

  // SQLite is stopped while it groups, before any row comes out.
  RacingClock racing;
  settings.max_run_bytes = std::int64_t{1} << 30;
  settings.max_run_seconds = 1;
  DatasetService slow(settings, *repo_, *source_, racing);
  DatasetChange c;
  c.query = "SELECT deviceId, count(*) AS n FROM telemetry GROUP BY deviceId";
  ASSERT_TRUE(slow.create("grouped", c));
  id = slow.start_run("grouped", "manual");
  ASSERT_TRUE(id);
  r = slow.execute("grouped", *id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "DatasetRunLimit");
  EXPECT_NE(r.error().message.find("max_run_seconds"), std::string::npos);
  auto d = slow.get("grouped");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->watermark, 0);  // nothing consumed: the next run reads the same rows
  // Within its limits the same run succeeds.
  DatasetsSettings roomy;
  roomy.dir = settings.dir;
  DatasetService fine(roomy, *repo_, *source_, clock_);
  id = fine.start_run("grouped", "manual");
  ASSERT_TRUE(id);
  auto ok = fine.execute("grouped", *id);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->rows, 1);
}

TEST_F(DatasetServiceTest, AFailedRunLeavesNoFileAndKeepsTheWatermark) {
  DatasetChange c;
  // Valid SQL that fails on this data: integer overflow in sum().
  c.query = "SELECT sum(x) FROM telemetry";
  ASSERT_TRUE(service_->create("overflow", c));
  add("A", 1, R"({"x": 9223372036854775807})");
  add("A", 2, R"({"x": 9223372036854775807})");
  auto id = service_->start_run("overflow", "manual");
  ASSERT_TRUE(id);
  auto r = service_->execute("overflow", *id);
  ASSERT_FALSE(r);
  auto recorded = service_->run("overflow", *id);
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->status, "failed");
  EXPECT_NE(recorded->error.find("integer overflow"), std::string::npos) << recorded->error;
  EXPECT_FALSE(service_->run_file("overflow", *id));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() / "datasets" / "overflow"));
  EXPECT_EQ(service_->get("overflow")->watermark, 0);
}

TEST_F(DatasetServiceTest, OneRunAtATimeAndInterruptedRunsFail) {
  auto id = service_->start_run("smartproduct_dataset", "manual");
  ASSERT_TRUE(id);
  auto second = service_->start_run("smartproduct_dataset", "scheduled");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().name, "DatasetRunRunning");
  ASSERT_TRUE(service_->recover());  // as at a restart
  EXPECT_EQ(service_->run("smartproduct_dataset", *id)->status, "failed");
  EXPECT_TRUE(service_->start_run("smartproduct_dataset", "manual"));
  auto none = service_->start_run("nope", "manual");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().name, "DatasetNotFound");
}

TEST_F(DatasetServiceTest, DefinitionsAreValidated) {
  DatasetChange c;
  c.query = "SELECT t FROM telemetry";
  auto dup = service_->create("smartproduct_dataset", c);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().name, "DatasetExists");
  EXPECT_EQ(service_->create("a/b", c).error().name, "InvalidParameter");
  DatasetChange q = c;
  q.query = "SELECT nope( FROM telemetry";
  auto bad = service_->create("x", q);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().name, "InvalidDatasetQuery");
  EXPECT_NE(bad.error().message.find("column "), std::string::npos);
  DatasetChange s = c;
  s.schedule = "often";
  EXPECT_EQ(service_->create("x", s).error().name, "InvalidParameter");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(service_->create("d" + std::to_string(i), c));
  EXPECT_EQ(service_->create("one-too-many", c).error().name, "DatasetLimitReached");
  // Update: only what is given changes; disabling clears the next run.
  DatasetChange u;
  u.schedule = "rate(1 day)";
  auto d = service_->update("d0", u);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->query, "SELECT t FROM telemetry");
  EXPECT_EQ(d->next_run_at_ms, (clock_.now_ms() / 86400000 + 1) * 86400000);
  u = {};
  u.enabled = false;
  EXPECT_FALSE(service_->update("d0", u)->next_run_at_ms);
  EXPECT_EQ(service_->update("nope", u).error().name, "DatasetNotFound");
}

TEST_F(DatasetServiceTest, RetentionDeletesExpiredRunsAndOrphans) {
  add("A", 1, R"({"x": 1})");
  auto old = run("smartproduct_dataset");
  const auto old_file = *service_->run_file("smartproduct_dataset", old.id);
  clock_.advance(std::chrono::hours(24 * 31));  // past the default 30 days
  auto fresh = run("smartproduct_dataset");
  // A file no run refers to (a run that died after writing it), old enough to sweep.
  const auto orphan = dir_.path() / "datasets" / "smartproduct_dataset" / "999.csv";
  std::ofstream(orphan) << "x\r\n";
  std::filesystem::last_write_time(
      orphan, std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
  auto n = service_->apply_retention();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2);
  EXPECT_FALSE(std::filesystem::exists(old_file));
  EXPECT_FALSE(std::filesystem::exists(orphan));
  EXPECT_EQ(service_->run("smartproduct_dataset", old.id).error().name, "DatasetRunNotFound");
  EXPECT_TRUE(service_->run_file("smartproduct_dataset", fresh.id));
  // Deleting the dataset takes its folder.
  ASSERT_TRUE(service_->remove("smartproduct_dataset"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "datasets" / "smartproduct_dataset"));
  EXPECT_EQ(service_->remove("smartproduct_dataset").error().name, "DatasetNotFound");
}

}  // namespace
}  // namespace sp::datasets
