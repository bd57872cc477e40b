// The spool tailer: records in order to the sink of their topic, resuming after each sink's
// committed position, torn tails skipped once sealed, consumed segments deleted, a failed store
// followed by a resync from the committed positions (no record lost or stored twice).

#include "smartproduct/ingest/tailer.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "smartproduct/broker/spool.hpp"

namespace sp::ingest {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sp-tailer-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// A database: rows and the spool position, committed together (as the SQLite repositories do),
// with the same chain check.
struct FakeDb final : store::SpoolPositionRepository {
  std::mutex m;
  SpoolPosition pos;
  std::vector<std::string> rows;
  int fail_next = 0;  // store failures to inject

  Result<SpoolPosition> load() override {
    std::lock_guard l(m);
    return pos;
  }
  Result<void> advance(const SpoolMark& mark) override {
    std::lock_guard l(m);
    if (pos != mark.after) return fail(ErrorKind::kUnavailable, "StoreUnavailable", "order");
    pos = mark.position;
    return {};
  }
  bool ingest(std::string_view, std::string_view payload, std::function<void(bool)> done,
              const SpoolMark* mark) {
    if (payload == "invalid") {
      done(true);
      return false;
    }
    bool ok = true;
    {
      std::lock_guard l(m);
      if (fail_next > 0) {
        --fail_next;
        ok = false;
      } else if (mark && pos != mark->after) {
        ok = false;  // a gap: rolled back
      } else {
        rows.emplace_back(payload);
        if (mark) pos = mark->position;
      }
    }
    done(ok);
    return true;
  }
  std::vector<std::string> snapshot() {
    std::lock_guard l(m);
    return rows;
  }
};

Sink sink_for(const std::string& name, const std::string& prefix, FakeDb& db) {
  return Sink{name,
              prefix,
              [&db](std::string_view t, std::string_view p, std::function<void(bool)> d,
                    const SpoolMark* m) { return db.ingest(t, p, std::move(d), m); },
              &db,
              {}};
}

spool::Record rec(const std::string& topic, const std::string& payload) {
  spool::Record r;
  r.topic = topic;
  r.payload = payload;
  r.qos = 1;
  return r;
}

template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

std::vector<std::string> numbered(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

// Telemetry t0..t99 with an event e0, e10, ... e90 after every tenth, in 4 KiB segments.
void write_telemetry_and_events(spool::Writer& w) {
  ASSERT_EQ(w.open(), "");
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(w.append(rec("t/SN1", "t" + std::to_string(i))), spool::AppendStatus::kOk);
    if (i % 10 == 0) {
      ASSERT_EQ(w.append(rec("e/SN1", "e" + std::to_string(i))), spool::AppendStatus::kOk);
    }
  }
}

TEST(SpoolTailer, AHeldSinkKeepsItsRecordsInTheSpoolWhileTheOthersFlow) {
  TempDir dir;
  {
    spool::Writer w({dir.str(), 4096, 1 << 30});
    write_telemetry_and_events(w);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
  }
  spool::Writer w2({dir.str(), 4096, 1 << 30});
  ASSERT_EQ(w2.open(), "");
  const auto segments = spool::list_segments(dir.str()).size();
  ASSERT_GT(segments, 2u);  // the events are spread over several segments
  FakeDb tdb, edb;
  std::atomic<bool> held{true};
  Sink telemetry = sink_for("telemetry", "t", tdb);
  telemetry.held = [&held] { return held.load(); };
  SpoolTailer tailer({dir.str(), 1, 10, 100}, {telemetry, sink_for("events", "e", edb)});
  tailer.start();
  // Events of every segment are stored; telemetry is not taken, and no segment is deleted.
  ASSERT_TRUE(eventually([&] { return edb.snapshot().size() == 10; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(tdb.snapshot().empty());
  EXPECT_EQ(spool::list_segments(dir.str()).size(), segments);
  // Released: every telemetry record exactly once, in order; events not stored twice.
  held = false;
  ASSERT_TRUE(eventually([&] { return tdb.snapshot().size() == 100; }));
  ASSERT_TRUE(eventually([&] { return spool::list_segments(dir.str()).size() == 1; }));
  tailer.stop();
  EXPECT_EQ(tdb.snapshot(), numbered("t", 0, 100));
  EXPECT_EQ(edb.snapshot().size(), 10u);
}

TEST(SpoolTailer, RoutesRecordsInOrderAndDeletesConsumedSegments) {
  TempDir dir;
  {
    spool::Writer w({dir.str(), 4096, 1 << 30});
    write_telemetry_and_events(w);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    ASSERT_EQ(w.append(rec("other/SN1", "x")), spool::AppendStatus::kOk);
  }
  // A restarted writer seals the last segment.
  spool::Writer w2({dir.str(), 4096, 1 << 30});
  ASSERT_EQ(w2.open(), "");
  FakeDb tdb, edb;
  SpoolTailer tailer({dir.str(), 1, 10, 100},
                     {sink_for("telemetry", "t", tdb), sink_for("events", "e", edb)});
  tailer.start();
  ASSERT_TRUE(
      eventually([&] { return tdb.snapshot().size() == 100 && edb.snapshot().size() == 10; }));
  ASSERT_TRUE(eventually([&] { return spool::list_segments(dir.str()).size() == 1; }));
  tailer.stop();
  EXPECT_EQ(tdb.snapshot(), numbered("t", 0, 100));
  EXPECT_EQ(edb.snapshot().front(), "e0");
  EXPECT_EQ(tailer.stats().unrouted.load(), 1u);
  EXPECT_EQ(spool::list_segments(dir.str()).back(), w2.current_segment());
}

TEST(SpoolTailer, ReadsASegmentLargerThanItsReadAheadInOrderWithABigRecordAcrossReads) {
  // The tailer reads at most ~1 MiB ahead at a time: records that straddle reads, and one larger
  // than a read, must come out whole and in order.
  TempDir dir;
  std::vector<std::string> sent;
  {
    spool::Writer w({dir.str(), 64 << 20, 1 << 30});
    ASSERT_EQ(w.open(), "");
    for (int i = 0; i < 30000; ++i) {
      sent.push_back("t" + std::to_string(i) + std::string(90, 'x'));
      if (i == 15000) sent.back() = std::string(3 << 20, 'b');
      ASSERT_EQ(w.append(rec("t/SN1", sent.back())), spool::AppendStatus::kOk);
    }
  }
  FakeDb tdb;
  SpoolTailer tailer({dir.str(), 1, 10, 100}, {sink_for("telemetry", "t", tdb)});
  tailer.start();
  ASSERT_TRUE(eventually([&] { return tdb.snapshot().size() == sent.size(); }));
  tailer.stop();
  EXPECT_TRUE(tdb.snapshot() == sent);
}

TEST(SpoolTailer, ResumesAfterEachDatabasesCommittedPosition) {
  TempDir dir;
  {
    spool::Writer w({dir.str(), 1 << 20, 1 << 30});
    ASSERT_EQ(w.open(), "");
    for (int i = 0; i < 10; ++i)
      ASSERT_EQ(w.append(rec("t/SN1", "t" + std::to_string(i))), spool::AppendStatus::kOk);
  }
  FakeDb tdb;
  tdb.pos = {1, 4};  // records 1..4 were committed before a crash
  tdb.rows = numbered("t", 0, 4);
  SpoolTailer tailer({dir.str(), 1, 10, 100}, {sink_for("telemetry", "t", tdb)});
  tailer.start();
  ASSERT_TRUE(eventually([&] { return tdb.snapshot().size() == 10; }));
  tailer.stop();
  EXPECT_EQ(tdb.snapshot(), numbered("t", 0, 10));  // each once
}

TEST(SpoolTailer, ATornTailIsSkippedOnceANewerSegmentExists) {
  TempDir dir;
  {
    spool::Writer w({dir.str(), 1 << 20, 1 << 30});
    ASSERT_EQ(w.open(), "");
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(w.append(rec("t/SN1", "t" + std::to_string(i))), spool::AppendStatus::kOk);
  }
  const auto seg1 = dir.str() + "/" + spool::segment_file_name(1);
  const auto torn = spool::encode_record(rec("t/SN1", "never acknowledged"));
  std::ofstream(seg1, std::ios::app | std::ios::binary) << torn.substr(0, torn.size() - 3);
  FakeDb tdb;
  SpoolTailer tailer({dir.str(), 1, 10, 100}, {sink_for("telemetry", "t", tdb)});
  tailer.start();
  ASSERT_TRUE(eventually([&] { return tdb.snapshot().size() == 3; }));
  // The newest segment may still be written to: not torn yet.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(tailer.stats().torn_tails.load(), 0u);
  spool::Writer w2({dir.str(), 1 << 20, 1 << 30});
  ASSERT_EQ(w2.open(), "");
  ASSERT_EQ(w2.append(rec("t/SN1", "t3")), spool::AppendStatus::kOk);
  ASSERT_TRUE(eventually([&] { return tdb.snapshot().size() == 4; }));
  tailer.stop();
  EXPECT_EQ(tailer.stats().torn_tails.load(), 1u);
  EXPECT_EQ(tdb.snapshot(), numbered("t", 0, 4));
  EXPECT_FALSE(fs::exists(seg1));
}

TEST(SpoolTailer, AStoreFailureResumesFromTheCommittedPositionWithoutGapsOrDuplicates) {
  TempDir dir;
  {
    spool::Writer w({dir.str(), 1 << 20, 1 << 30});
    ASSERT_EQ(w.open(), "");
    for (int i = 0; i < 50; ++i) {
      ASSERT_EQ(w.append(rec("t/SN1", i == 7 ? "invalid" : "t" + std::to_string(i))),
                spool::AppendStatus::kOk);
    }
  }
  FakeDb tdb;
  tdb.fail_next = 1;  // the first record's store fails; later ones must not commit past it
  SpoolTailer tailer({dir.str(), 1, 10, 100}, {sink_for("telemetry", "t", tdb)});
  tailer.start();
  ASSERT_TRUE(eventually([&] { return tdb.snapshot().size() == 49; }));
  tailer.stop();
  auto want = numbered("t", 0, 50);
  want.erase(want.begin() + 7);  // rejected by validation, never stored
  EXPECT_EQ(tdb.snapshot(), want);
  EXPECT_GE(tailer.stats().store_failures.load(), 1u);
}

}  // namespace
}  // namespace sp::ingest
