// Retention and the disk guard (issue 14 item 3) on the real SQLite store: cut-offs per table,
// bounded batches, the query plans of every pruning statement, incremental vacuum, and the guard
// pausing intake (messages answered done(false), nothing stored) and resuming.

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <sstream>

#include "../../store/test_util.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/telemetry/retention.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/maintenance.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::telemetry {
namespace {

using nlohmann::json;
using store::TelemetryTable;

constexpr int64_t kDay = 86'400'000;

class ManualClock final : public Clock {
 public:
  int64_t now_ms() const override { return now; }
  int64_t now = 0;
};

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open() {
    auto store = sqlite::open_store(
        sqlite::StoreConfig{dir_.path(), 2000, 64, sqlite::Synchronous::kNormal});
    ASSERT_TRUE(store) << store.error().detail;
    store_ = std::move(*store);
    repo_ = sqlite::make_telemetry_repository(store_->telemetry_ptr());
    maintenance_ = sqlite::make_telemetry_maintenance(store_->telemetry_ptr());
    service_ = std::make_unique<TelemetryService>(IngestConfig{"smartproduct/telemetry", 4096},
                                                  *repo_, clock_, bus_);
  }

  bool ingest(const std::string& device, const json& body) {
    std::promise<bool> done;
    service_->ingest("smartproduct/telemetry/" + device, body.dump(),
                     [&done](bool ok) { done.set_value(ok); });
    return done.get_future().get();
  }

  int64_t count(const std::string& sql, int64_t arg) {
    auto n = store_->telemetry().read(
        [&](sqlite::Connection& c) { return c.query_value<int64_t>(sql, arg); });
    EXPECT_TRUE(n) << n.error().detail;
    return n ? n->value_or(-1) : -1;
  }

  sqlite::test::TempDir dir_;
  std::unique_ptr<sqlite::Store> store_;
  std::unique_ptr<store::TelemetryRepository> repo_;
  std::unique_ptr<store::TelemetryMaintenance> maintenance_;
  ManualClock clock_;
  EventBus bus_;
  std::unique_ptr<TelemetryService> service_;
};

TEST_F(RetentionTest, EachTableIsCutAtItsOwnAgeInBoundedBatches) {
  const int64_t now = 1'795'819'080'000;
  clock_.now = now;
  // Three devices; samples 1, 20, 45, 100, 400 and 800 days old, 4 per age and device, one
  // minute apart (so each gets its own 1-minute rollup bucket).
  const std::vector<int> ages = {1, 20, 45, 100, 400, 800};
  for (const char* device : {"SN-A", "SN-B", "SN-C"}) {
    for (int age : ages) {
      for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(ingest(
            device, {{"timestamp", now - age * kDay + i * 60'000}, {"actualTemperature", 60 + i}}));
      }
    }
  }
  ASSERT_EQ(count("SELECT count(*) FROM telemetry WHERE ?1 = ?1", 0), 72);

  RetentionConfig config;  // defaults: 30 / 90 / 730 days
  config.retention_batch_rows = 5;
  RetentionService retention(config, *maintenance_, clock_, {});
  auto deleted = retention.run_retention();
  ASSERT_TRUE(deleted) << deleted.error().detail;

  // Raw: kept only the 1- and 20-day-old samples (by sample time), and the table's newest row
  // (the last one stored, SN-C's 800-day-old sample): ids never go back, for the datasets.
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE t >= ?1", now - 30 * kDay), 24);
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE t < ?1", now - 30 * kDay), 1);
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE t < ?1 AND id = (SELECT max(id) FROM "
                  "telemetry)",
                  now - 30 * kDay),
            1);
  // 1-minute rollups: 90 days (1, 20, 45 days old remain); 2 numeric fields each... only
  // actualTemperature and its °C value.
  EXPECT_EQ(count("SELECT count(*) FROM telemetry_rollup_1m WHERE bucket < ?1", now - 90 * kDay),
            0);
  EXPECT_EQ(count("SELECT count(DISTINCT bucket) FROM telemetry_rollup_1m WHERE bucket >= ?1",
                  now - 90 * kDay),
            12);
  // 1-hour rollups: 730 days (the 800-day-old hour goes).
  EXPECT_EQ(count("SELECT count(*) FROM telemetry_rollup_1h WHERE bucket < ?1", now - 730 * kDay),
            0);
  EXPECT_EQ(count("SELECT count(DISTINCT bucket) FROM telemetry_rollup_1h WHERE bucket >= ?1",
                  now - 730 * kDay),
            5);
  const auto& st = retention.stats();
  EXPECT_EQ(st.pruned_raw.load(), 47u);
  EXPECT_EQ(static_cast<int64_t>(st.pruned_raw + st.pruned_1m + st.pruned_1h), *deleted);
  // No job deleted more than 5 rows: at least deleted/5 jobs ran.
  EXPECT_GE(st.batches.load(), static_cast<uint64_t>(*deleted / 5));
  EXPECT_GT(st.longest_batch_us.load(), 0);

  // A second pass finds nothing; newer data stays.
  auto again = retention.run_retention();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0);
}

TEST_F(RetentionTest, OneStepDeletesAtMostItsBudgetAndResumesOnTheSameDevice) {
  const int64_t now = 1'795'819'080'000;
  clock_.now = now;
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(ingest("SN-A", {{"timestamp", now - 40 * kDay + i * 1000}, {"v", i}}));
  }
  ASSERT_TRUE(ingest("SN-B", {{"timestamp", now - 40 * kDay}, {"v", 1}}));
  std::vector<int64_t> steps;
  for (int i = 0; i < 10; ++i) {
    auto s = maintenance_->prune_older(TelemetryTable::kRaw, now - 30 * kDay, 5);
    ASSERT_TRUE(s);
    steps.push_back(s->deleted);
    if (s->pass_done && s->deleted < 5) break;
  }
  // SN-B's sample is the newest row: kept, so that ids never go back.
  EXPECT_EQ(steps, (std::vector<int64_t>{5, 5, 2}));
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE device_id = 'SN-B' AND ?1 = ?1", 0), 1);
  // Oldest by arrival: the guard's order.
  ASSERT_TRUE(ingest("SN-A", {{"timestamp", now}, {"v", 1}}));
  ASSERT_TRUE(ingest("SN-A", {{"timestamp", now + 1}, {"v", 2}}));
  auto g = maintenance_->prune_oldest_raw(1);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->deleted, 1);
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE t = ?1", now + 1), 1);
}

TEST_F(RetentionTest, EveryPruningStatementUsesAnIndexNeverAScan) {
  for (const auto& sql : sqlite::telemetry_maintenance_statements()) {
    auto plan = store_->telemetry().read([&](sqlite::Connection& c) -> Result<std::string> {
      auto stmt = c.prepare("EXPLAIN QUERY PLAN " + sql);
      if (!stmt) return tl::unexpected(stmt.error());
      std::string all;
      for (;;) {
        auto row = stmt->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        all += stmt->column<std::string>(3) + "\n";
      }
      return all;
    });
    ASSERT_TRUE(plan) << plan.error().detail;
    std::istringstream lines(*plan);
    std::string line;
    int searches = 0;
    while (std::getline(lines, line)) {
      // A SCAN of a table (without an index) would read every row: never.
      EXPECT_FALSE(line.starts_with("SCAN") && line.find("USING") == std::string::npos)
          << sql << "\n"
          << *plan;
      if (line.find("USING") != std::string::npos) ++searches;
    }
    EXPECT_GE(searches, 1) << sql << "\n" << *plan;
    // Raw rows by device go through the (device_id, t) index; rollups through their key.
    if (sql.find("FROM telemetry WHERE device_id = ?1") != std::string::npos) {
      EXPECT_NE(plan->find("telemetry_device_t"), std::string::npos) << *plan;
    }
  }
}

TEST_F(RetentionTest, FreedPagesGoBackToTheFileSystem) {
  auto before = maintenance_->space();
  ASSERT_TRUE(before);
  EXPECT_TRUE(before->incremental) << "a new telemetry.db is created with auto_vacuum=INCREMENTAL";
  clock_.now = 1'795'819'080'000;
  const std::string pad(2000, 'x');
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(ingest("SN-A", {{"timestamp", clock_.now - 40 * kDay + i}, {"pad", pad}}));
  }
  RetentionConfig config;
  config.vacuum_step_pages = 16;
  RetentionService retention(config, *maintenance_, clock_, {});
  ASSERT_TRUE(retention.run_retention());
  auto after = maintenance_->space();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->free_bytes, 0) << "every freed page was released";
  EXPECT_GT(retention.stats().reclaimed_pages.load(), 100u);
}

TEST_F(RetentionTest, GuardPrunesOldestRawThenRefusesIntakeAndResumes) {
  clock_.now = 1'795'819'080'000;
  const std::string pad(1000, 'y');
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(ingest("SN-A", {{"timestamp", clock_.now - 1000 + i}, {"pad", pad}}));
  }
  auto space = maintenance_->space();
  ASSERT_TRUE(space);

  // A limit the data exceeds but an empty store does not: the oldest rows go, intake continues.
  RetentionConfig config;
  config.min_free_bytes = 0;
  config.retention_batch_rows = 20;
  config.max_disk_bytes = space->used_bytes() - 60'000;
  std::vector<std::pair<bool, std::string>> changes;
  {
    RetentionService guard(config, *maintenance_, clock_, {});
    guard.on_intake_change([&](bool p, const std::string& r) { changes.emplace_back(p, r); });
    EXPECT_FALSE(guard.check_disk());
    EXPECT_GT(guard.stats().guard_pruned.load(), 0u);
    EXPECT_TRUE(changes.empty());
    // The newest sample survived; the first ones went.
    EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE t = ?1", clock_.now - 1000 + 199), 1);
    EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE t = ?1", clock_.now - 1000), 0);
  }

  // A limit below an empty store: every raw row goes but the newest (ids never go back), then
  // intake is refused.
  config.max_disk_bytes = 4096;
  config.guard_prune_batches = 1000;
  RetentionService guard(config, *maintenance_, clock_, {});
  guard.on_intake_change([&](bool p, const std::string& r) { changes.emplace_back(p, r); });
  service_->set_intake_gate([&] { return guard.intake_paused(); }, [&] { guard.report_full(); });
  EXPECT_TRUE(guard.check_disk());
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].first);
  EXPECT_NE(changes[0].second.find("max_disk_bytes"), std::string::npos) << changes[0].second;
  EXPECT_NE(guard.pause_reason().find("max_disk_bytes"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE ?1 = ?1", 0), 1);
  // Refused: not acknowledged (done(false)), not stored.
  EXPECT_FALSE(ingest("SN-A", {{"timestamp", clock_.now}, {"v", 1}}));
  EXPECT_EQ(service_->refused(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE ?1 = ?1", 0), 1);

  // The free-space rule: a probe under min_free_bytes pauses; more free space resumes.
  config.max_disk_bytes = 0;
  config.min_free_bytes = 1000;
  int64_t free_bytes = 10;
  RetentionService by_free(config, *maintenance_, clock_, [&] { return free_bytes; });
  changes.clear();
  by_free.on_intake_change([&](bool p, const std::string& r) { changes.emplace_back(p, r); });
  service_->set_intake_gate([&] { return by_free.intake_paused(); }, {});
  EXPECT_TRUE(by_free.check_disk());
  EXPECT_NE(by_free.pause_reason().find("min_free_bytes"), std::string::npos);
  EXPECT_FALSE(ingest("SN-A", {{"timestamp", clock_.now}, {"v", 1}}));
  free_bytes = 5000;
  EXPECT_FALSE(by_free.check_disk());
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_FALSE(changes[1].first);
  EXPECT_TRUE(ingest("SN-A", {{"timestamp", clock_.now}, {"v", 1}}));
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE ?1 = ?1", 0), 2);
}

TEST_F(RetentionTest, DiskFullPausesUntilTheNextCheckFindsRoom) {
  RetentionConfig config;
  config.min_free_bytes = 0;
  RetentionService guard(config, *maintenance_, clock_, {});
  guard.report_full();
  EXPECT_TRUE(guard.intake_paused());
  EXPECT_NE(guard.pause_reason().find("disk full"), std::string::npos);
  // Nothing to prune: still paused by this check, retried (resumed) by the next.
  EXPECT_TRUE(guard.check_disk());
  EXPECT_FALSE(guard.check_disk());
}

TEST_F(RetentionTest, AFullDatabaseRollsBackPausesIntakeAndStaysIntact) {
  clock_.now = 1'795'819'080'000;
  RetentionConfig config;
  config.min_free_bytes = 0;
  RetentionService guard(config, *maintenance_, clock_, {});
  service_->set_intake_gate([&] { return guard.intake_paused(); }, [&] { guard.report_full(); });
  ASSERT_TRUE(ingest("SN-A", {{"timestamp", clock_.now}, {"v", 0}}));
  // The writer's page limit stands in for a full disk: SQLite answers SQLITE_FULL the same way.
  auto pages = store_->telemetry().read(
      [](sqlite::Connection& c) { return c.query_value<int64_t>("PRAGMA page_count"); });
  ASSERT_TRUE(pages);
  ASSERT_TRUE(store_->telemetry().write([&](sqlite::Connection& c) {
    return c.exec("PRAGMA max_page_count = " + std::to_string(pages->value_or(0) + 2));
  }));
  const std::string pad(3000, 'z');
  int stored = 1;
  bool refused = false;
  for (int i = 1; i < 50 && !refused; ++i) {
    if (ingest("SN-A", {{"timestamp", clock_.now + i}, {"pad", pad}})) {
      ++stored;
    } else {
      refused = true;
    }
  }
  ASSERT_TRUE(refused) << "the page limit was never reached";
  EXPECT_TRUE(guard.intake_paused());
  EXPECT_NE(guard.pause_reason().find("disk full"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM telemetry WHERE ?1 = ?1", 0), stored);
  auto check = store_->telemetry().read(
      [](sqlite::Connection& c) { return c.query_value<std::string>("PRAGMA integrity_check"); });
  ASSERT_TRUE(check);
  EXPECT_EQ(check->value_or(""), "ok");
  // Space again: the next check resumes and intake works.
  ASSERT_TRUE(store_->telemetry().write(
      [](sqlite::Connection& c) { return c.exec("PRAGMA max_page_count = 1073741823"); }));
  guard.check_disk();
  EXPECT_FALSE(guard.check_disk());
  EXPECT_TRUE(ingest("SN-A", {{"timestamp", clock_.now + 100}, {"v", 1}}));
}

TEST_F(RetentionTest, AnExistingSmallDatabaseIsSwitchedToIncrementalVacuumAtOpen) {
  store_.reset();
  maintenance_.reset();
  service_.reset();
  repo_.reset();
  {
    auto conn = sqlite::Connection::open(dir_.path() / sqlite::kTelemetryDatabaseFile);
    ASSERT_TRUE(conn);
    ASSERT_TRUE(conn->exec("PRAGMA auto_vacuum = NONE; VACUUM"));
    auto mode = conn->query_value<int64_t>("PRAGMA auto_vacuum");
    ASSERT_TRUE(mode);
    ASSERT_EQ(mode->value_or(-1), 0);
  }
  open();
  auto space = maintenance_->space();
  ASSERT_TRUE(space);
  EXPECT_TRUE(space->incremental);
  auto mode = store_->telemetry().read(
      [](sqlite::Connection& c) { return c.query_value<int64_t>("PRAGMA auto_vacuum"); });
  ASSERT_TRUE(mode);
  EXPECT_EQ(mode->value_or(-1), 2);
}

}  // namespace
}  // namespace sp::telemetry
