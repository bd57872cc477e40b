// The spool position of a database moves with the rows of the spool records it covers: staged per
// job, written once per batch transaction (SpoolPositionStage). These tests pin what a crash or a
// failed record must leave behind: never a position past a record whose row is not committed.

#include "store/sqlite/repositories/spool_position.hpp"

#include <functional>
#include <future>

#include <gtest/gtest.h>

#include "../test_util.hpp"
#include "../writer_gate.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/repositories/statement_cache.hpp"

namespace sp::sqlite {
namespace {

using test::TempDir;

const std::vector<Migration> kSchema = {
    {1, "0001_t.sql",
     "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL CHECK (v <> 'bad')) STRICT;"
     "CREATE TABLE ingest_position(source TEXT PRIMARY KEY, segment INTEGER NOT NULL,"
     "  seq INTEGER NOT NULL) STRICT;"
     "INSERT INTO ingest_position VALUES ('spool', 0, 0);"},
};

std::shared_ptr<Database> open_db(const TempDir& dir) {
  DatabaseConfig config;
  config.path = dir / "t.db";
  config.migrations = kSchema;
  auto db = Database::open(config);
  if (!db) ADD_FAILURE() << db.error().message << " / " << db.error().detail;
  return db ? *db : nullptr;
}

SpoolPosition committed_position(Database& db) {
  auto p = db.read([](Connection& c) -> Result<SpoolPosition> {
    auto s = c.prepare("SELECT segment, seq FROM ingest_position WHERE source = 'spool'");
    if (!s) return tl::unexpected(s.error());
    auto row = s->step();
    if (!row) return tl::unexpected(row.error());
    return SpoolPosition{s->column<int64_t>(0), s->column<int64_t>(1)};
  });
  EXPECT_TRUE(p);
  return p ? *p : SpoolPosition{-1, -1};
}

int count_rows(Database& db) {
  auto n = db.read([](Connection& c) { return c.query_value<int>("SELECT count(*) FROM t"); });
  return n && *n ? **n : -1;
}

enum class Outcome { kStored, kDuplicate };

/// Record `seq` of segment 1 (row id = seq), whose predecessor in this database is `after_seq`.
std::future<bool> submit(Database& db, int seq, int after_seq, std::string v = "x", int id = 0) {
  auto done = std::make_shared<std::promise<bool>>();
  auto f = done->get_future();
  const SpoolMark mark{SpoolPosition{after_seq == 0 ? 0 : 1, after_seq}, SpoolPosition{1, seq}};
  insert_unless_duplicate<Outcome>(
      db,
      [seq, v, id](Connection& c) {
        return c.execute("INSERT INTO t(id, v) VALUES (?, ?) ON CONFLICT DO NOTHING", id ? id : seq,
                         v);
      },
      Outcome::kStored, Outcome::kDuplicate,
      [done](Result<Outcome> r) { done->set_value(static_cast<bool>(r)); }, {}, mark);
  return f;
}

/// Records 1..n submitted while the writer is held, so that they share one batch; `v(seq)` is each
/// row's value. Returns whether each was stored.
std::vector<bool> submit_batch(Database& db, int n, const std::function<std::string(int)>& v) {
  test::WriterGate gate;
  db.write_async(gate.job(), {});
  gate.wait_entered();
  std::vector<std::future<bool>> done;
  for (int seq = 1; seq <= n; ++seq) done.push_back(submit(db, seq, seq - 1, v(seq)));
  gate.release();
  std::vector<bool> ok;
  for (auto& f : done) ok.push_back(f.get());
  return ok;
}

class SpoolPositionStageTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(db); }
  /// The committed rows and position are `rows` and 1/`seq`.
  void expect_committed(int rows, int seq) {
    EXPECT_EQ(count_rows(*db), rows);
    EXPECT_EQ(committed_position(*db), (SpoolPosition{1, seq}));
  }
  TempDir dir;
  std::shared_ptr<Database> db = open_db(dir);
};

TEST_F(SpoolPositionStageTest, MovesOncePerBatchToTheLastCommittedRecord) {
  const auto ok = submit_batch(*db, 50, [](int) { return "x"; });
  EXPECT_EQ(ok, std::vector<bool>(50, true));
  expect_committed(50, 50);
  // A redelivered record (no row changed) still moves the position: it was consumed.
  EXPECT_TRUE(submit(*db, 51, 50, "x", 7).get());
  expect_committed(50, 51);
}

TEST_F(SpoolPositionStageTest, AFailedRecordStopsTheLaterOnesAndThePositionStaysBeforeIt) {
  const auto ok = submit_batch(*db, 6, [](int seq) { return seq == 3 ? "bad" : "x"; });
  // Record 3 fails (CHECK); 4..6 were handed after it and must not commit past the gap.
  EXPECT_EQ(ok, (std::vector<bool>{true, true, false, false, false, false}));
  expect_committed(2, 2);
  // The tailer resumes from the committed position: the same records, now storable, go through.
  for (int seq = 3; seq <= 6; ++seq) EXPECT_TRUE(submit(*db, seq, seq - 1).get()) << seq;
  expect_committed(6, 6);
}

TEST_F(SpoolPositionStageTest, ARolledBackBatchLeavesTheCommittedPositionAndForgetsTheStagedOne) {
  EXPECT_TRUE(submit(*db, 1, 0).get());
  // The next batch's before-commit work fails once: the whole transaction rolls back.
  auto fail_next = std::make_shared<std::atomic<bool>>(false);
  CommitHooks hooks;
  hooks.before_commit = [fail_next](Connection&) -> Result<void> {
    if (fail_next->exchange(false)) {
      return fail(ErrorKind::kInternal, "Test", "before-commit failed", "on purpose");
    }
    return {};
  };
  db->add_commit_hooks(std::move(hooks));
  fail_next->store(true);
  EXPECT_FALSE(submit(*db, 2, 1).get());
  expect_committed(1, 1);
  // Were the lost record's position still in memory, this (correct) resubmission would fail.
  EXPECT_TRUE(submit(*db, 2, 1).get());
  expect_committed(2, 2);
}

}  // namespace
}  // namespace sp::sqlite
