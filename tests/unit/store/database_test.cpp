#include "store/sqlite/database.hpp"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "test_util.hpp"
#include "writer_gate.hpp"

namespace sp::sqlite {
namespace {

using namespace std::chrono_literals;
using test::TempDir;
using Gate = test::WriterGate;

const std::vector<Migration> kSchema = {
    {1, "0001_t.sql", "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT;"},
};

DatabaseConfig config_for(const TempDir& dir, std::size_t batch_max = 256) {
  DatabaseConfig config;
  config.path = dir / "t.db";
  config.migrations = kSchema;
  config.write_batch_max = batch_max;
  config.busy_timeout_ms = 2000;
  return config;
}

std::shared_ptr<Database> open_db(const DatabaseConfig& config) {
  auto db = Database::open(config);
  if (!db) ADD_FAILURE() << db.error().message << " / " << db.error().detail;
  return db ? *db : nullptr;
}

WriteJob insert(int id, std::string v = "x") {
  return [id, v](Connection& conn) {
    return conn.execute("INSERT INTO t(id, v) VALUES (?, ?)", id, v);
  };
}

int count_rows(Database& db) {
  auto n = db.read([](Connection& c) { return c.query_value<int>("SELECT count(*) FROM t"); });
  EXPECT_TRUE(n);
  return n && *n ? **n : -1;
}

/// Counts callbacks and remembers failures; wait_for() blocks until n arrived.
class Completions {
 public:
  WriteCallback callback(int id) {
    return [this, id](Result<void> result) {
      std::lock_guard lock(mutex_);
      if (!result) failed_.push_back(id);
      ++done_;
      cv_.notify_all();
    };
  }
  bool wait_for(int n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 30s, [&] { return done_ >= n; });
  }
  std::vector<int> failed() {
    std::lock_guard lock(mutex_);
    return failed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int done_ = 0;
  std::vector<int> failed_;
};

TEST(DatabaseTest, PragmasAndSchemaVersion) {
  TempDir dir;
  auto config = config_for(dir);
  config.busy_timeout_ms = 4321;
  auto db = open_db(config);
  ASSERT_TRUE(db);
  auto reader = db->read([](Connection& c) -> Result<std::string> {
    std::string out;
    for (const char* p : {"journal_mode", "foreign_keys", "user_version", "query_only",
                          "synchronous", "busy_timeout"}) {
      auto v = c.query_value<std::string>(std::string("PRAGMA ") + p);
      if (!v) return tl::unexpected(v.error());
      out += std::string(p) + "=" + v->value_or("?") + ";";
    }
    return out;
  });
  ASSERT_TRUE(reader);
  EXPECT_EQ(*reader,
            "journal_mode=wal;foreign_keys=1;user_version=1;query_only=1;synchronous=2;"
            "busy_timeout=4321;");

  std::string writer_view;
  ASSERT_TRUE(db->write([&](Connection& c) -> Result<void> {
    writer_view = c.query_value<std::string>("PRAGMA query_only")->value_or("?") +
                  c.query_value<std::string>("PRAGMA foreign_keys")->value_or("?") +
                  c.query_value<std::string>("PRAGMA synchronous")->value_or("?");
    return {};
  }));
  EXPECT_EQ(writer_view, "012");
}

TEST(DatabaseTest, RefusesInMemoryPath) {
  DatabaseConfig config;
  config.path = ":memory:";
  config.migrations = kSchema;
  EXPECT_FALSE(Database::open(config));
  EXPECT_FALSE(std::filesystem::exists(":memory:"));
}

TEST(DatabaseTest, ReopenKeepsDataAndDoesNotReapplyMigrations) {
  TempDir dir;
  {
    auto db = open_db(config_for(dir));
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->write(insert(1)));
  }
  auto config = config_for(dir);
  config.migrations.push_back({2, "0002_u.sql", "CREATE TABLE u(k TEXT PRIMARY KEY) STRICT;"});
  for (int round = 0; round < 2; ++round) {
    auto db = open_db(config);
    ASSERT_TRUE(db);
    EXPECT_EQ(count_rows(*db), 1);
    auto version = db->read([](Connection& c) { return user_version(c); });
    ASSERT_TRUE(version);
    EXPECT_EQ(*version, 2);
  }
}

TEST(DatabaseTest, RefusesNewerUserVersion) {
  TempDir dir;
  {
    auto db = open_db(config_for(dir));
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->write([](Connection& c) { return c.exec("PRAGMA user_version=99"); }));
  }
  auto db = Database::open(config_for(dir));
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message.find("99"), std::string::npos) << db.error().message;
  EXPECT_NE(db.error().message.find((dir / "t.db").string()), std::string::npos);
  EXPECT_NE(db.error().message.find("refusing"), std::string::npos);
}

TEST(DatabaseTest, BatchesQueuedJobsIntoFewTransactions) {
  TempDir dir;
  auto db = open_db(config_for(dir, 100));
  ASSERT_TRUE(db);
  Gate gate;
  Completions done;
  db->write_async(gate.job(), done.callback(0));
  gate.wait_entered();
  constexpr int kJobs = 1000;
  for (int i = 1; i <= kJobs; ++i) db->write_async(insert(i), done.callback(i));
  EXPECT_EQ(db->stats().queue_depth, static_cast<std::uint64_t>(kJobs));
  gate.release();
  ASSERT_TRUE(done.wait_for(kJobs + 1));

  EXPECT_TRUE(done.failed().empty());
  EXPECT_EQ(count_rows(*db), kJobs);
  const auto stats = db->stats();
  EXPECT_EQ(stats.jobs_committed, static_cast<std::uint64_t>(kJobs + 1));
  // The gate's own batch plus exactly ceil(1000 / 100) full batches.
  EXPECT_EQ(stats.transactions_committed, 11u);
  EXPECT_EQ(stats.jobs_failed, 0u);
  EXPECT_EQ(stats.queue_depth, 0u);
}

TEST(DatabaseTest, UnthrottledSubmissionsStillBatch) {
  TempDir dir;
  auto db = open_db(config_for(dir));
  ASSERT_TRUE(db);
  Completions done;
  constexpr int kJobs = 1000;
  for (int i = 1; i <= kJobs; ++i) db->write_async(insert(i), done.callback(i));
  ASSERT_TRUE(done.wait_for(kJobs));
  EXPECT_TRUE(done.failed().empty());
  EXPECT_EQ(count_rows(*db), kJobs);
  EXPECT_EQ(db->stats().jobs_committed, static_cast<std::uint64_t>(kJobs));
  // Submitting outpaces committing, so batches form without any gate; the exact count depends on
  // scheduling (BatchesQueuedJobsIntoFewTransactions pins it down), so only require that batching
  // happened at all.
  EXPECT_LT(db->stats().transactions_committed, static_cast<std::uint64_t>(kJobs));
}

/// A database whose writer is held in a gate job (callback 0): the jobs queued until
/// gate.release() share one batch transaction.
struct HeldBatch {
  HeldBatch() {
    if (!db) return;
    db->write_async(gate.job(), done.callback(0));
    gate.wait_entered();
    before = db->stats().transactions_committed;
  }
  TempDir dir;
  std::shared_ptr<Database> db = open_db(config_for(dir));
  Gate gate;
  Completions done;
  std::uint64_t before = 0;
};

TEST(DatabaseTest, FailingJobDoesNotRollBackItsNeighbours) {
  HeldBatch held;
  ASSERT_TRUE(held.db);

  held.db->write_async(insert(1), held.done.callback(1));
  held.db->write_async(
      [](Connection& c) -> Result<void> {
        if (auto r = c.execute("INSERT INTO t(id, v) VALUES (?, ?)", 2, "x"); !r) return r;
        return fail(ErrorKind::kConflict, "Nope", "refused after writing");
      },
      held.done.callback(2));
  held.db->write_async(
      [](Connection& c) -> Result<void> {
        (void)c.execute("INSERT INTO t(id, v) VALUES (?, ?)", 3, "x");
        throw std::runtime_error("boom");
      },
      held.done.callback(3));
  held.db->write_async(insert(1), held.done.callback(4));  // duplicate primary key: fails in SQLite
  held.db->write_async(insert(5), held.done.callback(5));
  held.gate.release();
  ASSERT_TRUE(held.done.wait_for(6));

  EXPECT_EQ(held.done.failed(), (std::vector<int>{2, 3, 4}));
  auto ids = held.db->read([](Connection& c) -> Result<std::vector<int>> {
    auto stmt = c.prepare("SELECT id FROM t ORDER BY id");
    if (!stmt) return tl::unexpected(stmt.error());
    std::vector<int> out;
    while (stmt->step().value_or(false)) out.push_back(stmt->column<int>(0));
    return out;
  });
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<int>{1, 5}));
  // All five ran in one transaction after the gate's.
  EXPECT_EQ(held.db->stats().transactions_committed - held.before, 2u);
  EXPECT_EQ(held.db->stats().jobs_failed, 3u);
}

TEST(DatabaseTest, AFailingLastStatementJobWithoutSavepointLeavesNothingAndItsNeighboursCommit) {
  HeldBatch held;
  ASSERT_TRUE(held.db);
  constexpr auto kLast = Database::JobUndo::kLastStatement;
  held.db->write_async(insert(1), held.done.callback(1), kLast);
  held.db->write_async(insert(1), held.done.callback(2), kLast);  // duplicate key: SQLite undoes it
  // A check that fails before the statement: nothing was written.
  held.db->write_async(
      [](Connection&) -> Result<void> { return fail(ErrorKind::kConflict, "Nope", "checked"); },
      held.done.callback(3), kLast);
  held.db->write_async(insert(4, "a"), held.done.callback(4), kLast);
  held.gate.release();
  ASSERT_TRUE(held.done.wait_for(5));

  EXPECT_EQ(held.done.failed(), (std::vector<int>{2, 3}));
  EXPECT_EQ(count_rows(*held.db), 2);
  EXPECT_EQ(held.db->stats().transactions_committed - held.before, 2u);  // the gate's and theirs
}

TEST(DatabaseTest, OnDoneRunsAfterCommit) {
  TempDir dir;
  auto db = open_db(config_for(dir));
  ASSERT_TRUE(db);
  Completions done;
  std::atomic<int> visible{0};
  constexpr int kJobs = 20;
  for (int i = 1; i <= kJobs; ++i) {
    db->write_async(insert(i), [&, i, cb = done.callback(i)](Result<void> result) {
      // An independent connection (another "process") must already see the row.
      auto other =
          Connection::open(dir / "t.db", ConnectionOptions{.busy_timeout_ms = 2000,
                                                           .synchronous = Synchronous::kFull,
                                                           .query_only = true,
                                                           .create = false});
      if (other) {
        auto n = other->query_value<int>("SELECT count(*) FROM t WHERE id = ?", i);
        if (n && *n && **n == 1) ++visible;
      }
      cb(std::move(result));
    });
  }
  ASSERT_TRUE(done.wait_for(kJobs));
  EXPECT_TRUE(done.failed().empty());
  EXPECT_EQ(visible.load(), kJobs);
}

TEST(DatabaseTest, ReadersSeeCommittedDataWhileWriterWrites) {
  TempDir dir;
  auto db = open_db(config_for(dir));
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->write(insert(1)));

  // The writer holds an open transaction with an uncommitted row while we read.
  std::promise<void> inserted;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<Result<void>> outcome;
  db->write_async(
      [&](Connection& c) -> Result<void> {
        auto r = c.execute("INSERT INTO t(id, v) VALUES (?, ?)", 2, "uncommitted");
        inserted.set_value();
        released.wait();
        return r;
      },
      [&](Result<void> r) { outcome.set_value(std::move(r)); });
  inserted.get_future().wait();

  // Reads from several threads complete (no blocking on the writer) and see only committed data.
  std::vector<std::future<int>> reads;
  for (int i = 0; i < 4; ++i) {
    reads.push_back(std::async(std::launch::async, [&] { return count_rows(*db); }));
  }
  for (auto& r : reads) {
    ASSERT_EQ(r.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(r.get(), 1);
  }
  release.set_value();
  EXPECT_TRUE(outcome.get_future().get());
  EXPECT_EQ(count_rows(*db), 2);
}

TEST(DatabaseTest, ReadersRefuseWrites) {
  TempDir dir;
  auto db = open_db(config_for(dir));
  ASSERT_TRUE(db);
  auto result = db->read(
      [](Connection& c) { return c.execute("INSERT INTO t(id, v) VALUES (?, ?)", 1, "x"); });
  EXPECT_FALSE(result);
  auto ddl = db->read([](Connection& c) { return c.exec("DROP TABLE t"); });
  EXPECT_FALSE(ddl);
  EXPECT_EQ(count_rows(*db), 0);
}

TEST(DatabaseTest, CloseDrainsQueuedWritesThenRefuses) {
  TempDir dir;
  auto config = config_for(dir, 16);
  Completions done;
  {
    auto db = open_db(config);
    ASSERT_TRUE(db);
    for (int i = 1; i <= 200; ++i) db->write_async(insert(i), done.callback(i));
    db->close();
    EXPECT_FALSE(db->healthy());
    ASSERT_TRUE(done.wait_for(200));
    EXPECT_TRUE(done.failed().empty());

    Completions late;
    db->write_async(insert(1000), late.callback(1000));
    ASSERT_TRUE(late.wait_for(1));
    EXPECT_EQ(late.failed(), std::vector<int>{1000});
    EXPECT_FALSE(db->write(insert(1001)));
    EXPECT_FALSE(db->read([](Connection& c) { return c.query_value<int>("SELECT 1"); }));
    db->close();  // idempotent
  }
  auto db = open_db(config);
  ASSERT_TRUE(db);
  EXPECT_EQ(count_rows(*db), 200);
}

TEST(DatabaseTest, WriterThreadMisuseIsReportedNotDeadlocked) {
  TempDir dir;
  auto db = open_db(config_for(dir));
  ASSERT_TRUE(db);
  Database* raw = db.get();
  auto nested = db->write([raw](Connection&) { return raw->write(insert(1)); });
  EXPECT_FALSE(nested);

  // A throwing callback does not stop the writer; a callback may queue more work.
  std::promise<void> chained;
  db->write_async(insert(2), [&, raw](Result<void>) {
    raw->write_async(insert(3), [&](Result<void>) { chained.set_value(); });
    throw std::runtime_error("callback bug");
  });
  ASSERT_EQ(chained.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(db->write(insert(4)));
  EXPECT_EQ(count_rows(*db), 3);
  EXPECT_TRUE(db->healthy());
}

TEST(DatabaseTest, OnlineBackup) {
  TempDir dir;
  auto db = open_db(config_for(dir));
  ASSERT_TRUE(db);
  for (int i = 1; i <= 50; ++i) ASSERT_TRUE(db->write(insert(i)));
  const auto backup = dir / "backup.db";
  auto result = db->backup_to(backup);
  ASSERT_TRUE(result) << result.error().detail;
  EXPECT_TRUE(db->write(insert(51)));  // the source keeps working

  struct stat st {};
  ASSERT_EQ(::stat(backup.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir / "backup.db-wal"));
  EXPECT_FALSE(std::filesystem::exists(dir / "backup.db.partial"));

  auto copy = Connection::open(backup, ConnectionOptions{.create = false});
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->query_value<int>("SELECT count(*) FROM t")->value_or(-1), 50);
  EXPECT_EQ(user_version(*copy).value(), 1);

  auto again = db->backup_to(backup);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kConflict);
  EXPECT_FALSE(db->backup_to(dir / "missing" / "b.db"));
}

TEST(DatabaseTest, ConcurrentWritersAndReaders) {
  TempDir dir;
  auto db = open_db(config_for(dir, 32));
  ASSERT_TRUE(db);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0};
  std::thread reader([&] {
    int last = 0;
    while (!stop) {
      int n = count_rows(*db);
      if (n < last) ++read_errors;  // committed rows never disappear
      last = n;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!db->write(insert(t * kPerThread + i + 1))) ++read_errors;
      }
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  reader.join();
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_EQ(count_rows(*db), kThreads * kPerThread);
}

}  // namespace
}  // namespace sp::sqlite
