// Telemetry query on a large store (issue 14 item 7 (b)): a telemetry.db of 10 million rows across
// 1,000 devices with their 1-minute and 1-hour rollups, in the real schema (open_store). The
// measured device holds one day of 1 s samples (86,400 rows); the other devices share the rest,
// interleaved in time as the daemon stores them. Times query_series (what GET
// /api/devices/{id}/telemetry?interval=1m runs) for that device-day at 1-minute buckets, cold (the
// file dropped from the OS page cache, fresh connections) then warm (median), and the same answer
// computed from the raw rows in the same run; aborts when the two answers differ. Prints figures;
// asserts nothing about time.
//
// Generation: every record is made as TelemetryService::ingest makes it (parse_device_message,
// then TelemetryService::prepare: dedup key, default pipeline, owner, rollup fields) and written
// in large transactions with the repository's INSERT and rollup upsert statements
// (telemetry_sql.hpp; the repository's per-message path would take ~5 minutes here). Then the rows
// and rollups of a few devices are compared with a second store fed the same messages through
// TelemetryService::ingest and the real repository, so the generated data is what the daemon would
// have written.
//
//   build/bin/sp_telemetry_store_bench [rows=10000000] [devices=1000]

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.hpp"
#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/telemetry/query.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/telemetry_sql.hpp"
#include "store/sqlite/store.hpp"

namespace {

using namespace sp;
using namespace sp::telemetry;
using namespace sp::bench;

constexpr int64_t kDay = 1795824000000;  // a UTC midnight
constexpr int64_t kDayMs = 86400000;
constexpr int64_t kDaySamples = 86400;
constexpr int64_t kReceiveDelayMs = 40;  // received_at = device time + this
constexpr std::size_t kChunkRows = 100000;
constexpr const char* kPrefix = "smartproduct/telemetry";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "sp_telemetry_store_bench: %s\n", what.c_str());
  std::abort();
}

std::string device_name(int k) {
  if (k == 0) return "SN-Q";  // the measured device
  char buf[16];
  std::snprintf(buf, sizeof buf, "SN-%04d", k);
  return buf;
}
std::string owner_of(const std::string& device) { return "user-" + device; }

// The message sequence in time order: the measured device (0) every second of the day, the other
// devices round-robin over the same day.
struct Sample {
  int device = 0;
  int64_t t = 0;
  int64_t seq = 0;  // the device's own sample number
};
class Samples {
 public:
  Samples(int64_t rows, int devices) : others_(rows - kDaySamples), peers_(devices - 1) {}
  bool next(Sample& s) {
    const bool measured = i_ < kDaySamples, other = g_ < others_;
    if (!measured && !other) return false;
    const int64_t tm = kDay + i_ * 1000;
    const int64_t to = other ? kDay + g_ * kDayMs / others_ : 0;
    if (measured && (!other || tm <= to)) {
      s = {0, tm, i_++};
    } else {
      s = {1 + static_cast<int>(g_ % peers_), to, g_ / peers_};
      ++g_;
    }
    return true;
  }

 private:
  int64_t others_, peers_;
  int64_t i_ = 0, g_ = 0;
};

std::string payload(const Sample& s) {
  const int64_t v = s.seq + s.device;
  return nlohmann::json{{"actualTemperature", 60 + static_cast<double>(v % 300) * 0.1},
                        {"targetTemperature", 70 + v % 5},
                        {"timestamp", s.t}}
      .dump();
}

std::unique_ptr<TelemetryService> make_service(store::TelemetryRepository& repo, const Clock& clock,
                                               EventBus& bus) {
  auto svc = std::make_unique<TelemetryService>(IngestConfig{kPrefix, 4096}, repo, clock, bus);
  svc->set_device_lookup([](const std::string& id) -> std::optional<DeviceAttributes> {
    return DeviceAttributes{"name-" + id, "25HNB9", owner_of(id), nlohmann::json::object()};
  });
  return svc;  // the default pipeline, rollups on: as the daemon runs
}

// ---- generation ----

// A rollup row of a chunk: (device, bucket, field), fields interned in Chunk::fields (the owner
// is the device's, checked constant).
using RollupKey = std::tuple<int, int64_t, int>;
struct Chunk {
  std::vector<TelemetryRecord> records;
  std::vector<std::string> fields;
  std::map<int, std::string> owners;          // of the devices
  std::map<RollupKey, Aggregate> rollups[2];  // 1m, 1h: merged as the repository merges a batch
};

// Up to kChunkRows records, made by the service exactly as ingest() makes them.
std::unique_ptr<Chunk> produce(Samples& samples, TelemetryService& svc, StepClock& clock,
                               const std::vector<std::string>& names,
                               const std::vector<std::string>& topics) {
  auto chunk = std::make_unique<Chunk>();
  chunk->records.reserve(kChunkRows);
  Sample s;
  while (chunk->records.size() < kChunkRows && samples.next(s)) {
    const std::string body = payload(s);
    clock.now = s.t + kReceiveDelayMs;
    auto parsed = parse_device_message(kPrefix, topics[s.device], body, 4096);
    if (!parsed.message) die("message rejected: " + body);
    TelemetryRecord& r = chunk->records.emplace_back();
    if (!svc.prepare(std::move(parsed.message->device_id), std::move(parsed.message->body), body,
                     r))
      die("message filtered: " + body);
    if (r.device_id != names[s.device]) die("device id " + r.device_id);
    if (chunk->owners.emplace(s.device, r.owner_id).first->second != r.owner_id)
      die("the owner of " + r.device_id + " changed");
    for (const auto& [field, value] : r.numbers) {
      const auto f = std::find(chunk->fields.begin(), chunk->fields.end(), field);
      const int fi = static_cast<int>(f - chunk->fields.begin());
      if (f == chunk->fields.end()) chunk->fields.push_back(field);
      const Aggregate a{1, value, value, value, r.t_ms, r.t_ms, value, value};
      chunk->rollups[0][RollupKey{s.device, r.t_ms / 60000 * 60000, fi}].merge(a);
      chunk->rollups[1][RollupKey{s.device, r.t_ms / 3600000 * 3600000, fi}].merge(a);
    }
  }
  return chunk;
}

Result<void> write_chunk(sqlite::Connection& conn, const Chunk& chunk,
                         const std::vector<std::string>& names) {
  auto ins = conn.prepare(sqlite::kTelemetryInsertSql);
  if (!ins) return tl::unexpected(ins.error());
  for (const auto& r : chunk.records) {
    std::optional<std::string> dedup, owner;
    if (!r.dedup_key.empty()) dedup = r.dedup_key;
    if (!r.owner_id.empty()) owner = r.owner_id;
    ins->reset().bind_all(r.device_id, r.device_ts_ms, r.received_at_ms, r.payload, dedup, r.t_ms,
                          owner);
    if (auto run = ins->run(); !run) return run;
    if (conn.changes() != 1) die("duplicate row generated for " + r.device_id);
  }
  const char* tables[2] = {"telemetry_rollup_1m", "telemetry_rollup_1h"};
  for (int res = 0; res < 2; ++res) {
    auto up = conn.prepare(sqlite::telemetry_rollup_upsert_sql(tables[res]));
    if (!up) return tl::unexpected(up.error());
    for (const auto& [k, a] : chunk.rollups[res]) {
      const auto& [device, bucket, field] = k;
      up->reset().bind_all(names[device], bucket, chunk.fields[field], chunk.owners.at(device),
                           a.count, a.sum, a.min, a.max, a.first_t, a.first, a.last_t, a.last);
      if (auto run = up->run(); !run) return run;
    }
  }
  return {};
}

// ---- verification against the service's own writes ----

struct RawRow {
  std::optional<int64_t> device_ts;
  int64_t received_at = 0, t = 0;
  std::string payload, dedup, owner;
  bool operator==(const RawRow&) const = default;
};
struct RollupRow {
  int64_t bucket = 0;
  std::string field, owner;
  Aggregate a;
};

// Every row of `sql` (?1: the device) as made by `make` from the statement.
template <class Row, class Make>
std::vector<Row> read_rows(sqlite::Database& db, const std::string& sql, const std::string& device,
                           Make make) {
  auto rows = db.read([&](sqlite::Connection& conn) -> Result<std::vector<Row>> {
    auto stmt = conn.prepare(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    stmt->bind_all(device);
    std::vector<Row> out;
    for (;;) {
      auto more = stmt->step();
      if (!more) return tl::unexpected(more.error());
      if (!*more) break;
      out.push_back(make(*stmt));
    }
    return out;
  });
  if (!rows) die("reading " + sql + ": " + rows.error().detail);
  return *rows;
}

std::vector<RawRow> raw_rows(sqlite::Database& db, const std::string& device) {
  return read_rows<RawRow>(
      db,
      "SELECT device_ts, received_at, t, payload, coalesce(dedup_key, ''), "
      "coalesce(owner_id, '') FROM telemetry WHERE device_id = ?1 ORDER BY t, id",
      device, [](sqlite::Statement& st) {
        return RawRow{st.column<std::optional<int64_t>>(0),
                      st.column<int64_t>(1),
                      st.column<int64_t>(2),
                      st.column<std::string>(3),
                      st.column<std::string>(4),
                      st.column<std::string>(5)};
      });
}

std::vector<RollupRow> rollup_rows(sqlite::Database& db, const char* table,
                                   const std::string& device) {
  return read_rows<RollupRow>(
      db,
      std::string("SELECT bucket, field, owner_id, count, sum, min, max, first_t, first, last_t, "
                  "last FROM ") +
          table + " WHERE device_id = ?1 ORDER BY bucket, field, owner_id",
      device, [](sqlite::Statement& st) {
        return RollupRow{
            st.column<int64_t>(0), st.column<std::string>(1), st.column<std::string>(2),
            Aggregate{st.column<int64_t>(3), st.column<double>(4), st.column<double>(5),
                      st.column<double>(6), st.column<int64_t>(7), st.column<int64_t>(9),
                      st.column<double>(8), st.column<double>(10)}};
      });
}

bool close_enough(double a, double b) {
  return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
}

// Feeds the messages of `devices` through TelemetryService::ingest into a store of their own and
// compares every raw row and rollup row with the generated store. Sums may differ in the last
// bits (the service adds per batch of 512, the generator per chunk); everything else must be equal.
void verify(sqlite::Database& big, int64_t rows, int device_count, const std::set<int>& devices,
            const std::vector<std::string>& topics) {
  const auto dir = temp_dir();
  {
    auto store = sqlite::open_store(sqlite::StoreConfig{dir, 5000, 512, sqlite::Synchronous::kOff});
    if (!store) die("open_store: " + store.error().detail);
    auto repo = sqlite::make_telemetry_repository((*store)->telemetry_ptr());
    StepClock clock;
    EventBus bus;
    auto svc = make_service(*repo, clock, bus);
    Samples samples(rows, device_count);
    std::atomic<int64_t> pending{0};
    std::atomic<bool> failed{false};
    Sample s;
    while (samples.next(s)) {
      if (!devices.count(s.device)) continue;
      clock.now = s.t + kReceiveDelayMs;
      ++pending;
      svc->ingest(topics[s.device], payload(s), [&](bool ok) {
        if (!ok) failed = true;
        --pending;
      });
    }
    while (pending > 0) usleep(10000);
    if (failed) die("the reference store refused a message");
    for (int d : devices) {
      const std::string name = device_name(d);
      if (raw_rows(big, name) != raw_rows((*store)->telemetry(), name))
        die("raw rows of " + name + " differ from the service's");
      for (const char* table : {"telemetry_rollup_1m", "telemetry_rollup_1h"}) {
        const auto mine = rollup_rows(big, table, name);
        const auto ref = rollup_rows((*store)->telemetry(), table, name);
        if (mine.size() != ref.size() || mine.empty())
          die(std::string(table) + " row count of " + name + " differs from the service's");
        for (std::size_t i = 0; i < mine.size(); ++i) {
          const auto &x = mine[i], &y = ref[i];
          if (x.bucket != y.bucket || x.field != y.field || x.owner != y.owner ||
              x.a.count != y.a.count || x.a.min != y.a.min || x.a.max != y.a.max ||
              x.a.first_t != y.a.first_t || x.a.first != y.a.first || x.a.last_t != y.a.last_t ||
              x.a.last != y.a.last || !close_enough(x.a.sum, y.a.sum))
            die(std::string(table) + " of " + name + " differs from the service's at bucket " +
                std::to_string(x.bucket) + " field " + x.field);
        }
      }
    }
  }
  std::filesystem::remove_all(dir);
}

// ---- the measurement ----

// Drops the file's pages from the OS page cache (the next read comes from the disk).
void evict(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// The 1-minute buckets of `q`'s field computed from the raw rows: what a store without rollups
// does.
std::map<int64_t, Aggregate> from_raw(store::TelemetryReader& reader, const SeriesQuery& q) {
  store::TelemetryReader::RawQuery rq{q.device_id, q.owner,      q.from_ms,
                                      q.to_ms,     std::nullopt, kDaySamples + 1};
  auto raw = reader.raw(rq);
  if (!raw) die("raw query: " + raw.error().detail);
  std::map<int64_t, Aggregate> buckets;
  for (const auto& row : *raw) {
    auto body = nlohmann::json::parse(row.payload);
    const double v = body[q.fields[0]].get<double>();
    Aggregate a{1, v, v, v, row.t_ms, row.t_ms, v, v};
    buckets[row.t_ms / 60000 * 60000].merge(a);
  }
  return buckets;
}

void check_agree(const SeriesPage& page, const std::map<int64_t, Aggregate>& raw,
                 const std::string& field) {
  if (page.next) die("the rollup answer is paged");
  if (page.points.size() != raw.size() || raw.size() != kDaySamples / 60)
    die("bucket counts differ: rollups " + std::to_string(page.points.size()) + ", raw " +
        std::to_string(raw.size()));
  auto it = raw.begin();
  for (const auto& point : page.points) {
    const auto& [bucket, a] = *it++;
    const auto& got = point.at(field);
    if (point.at("t").get<int64_t>() != bucket || got.at("count").get<int64_t>() != a.count ||
        got.at("min").get<double>() != a.min || got.at("max").get<double>() != a.max ||
        !close_enough(got.at("avg").get<double>(), a.sum / static_cast<double>(a.count)))
      die("rollup and raw answers differ at bucket " + std::to_string(bucket) + ": " +
          point.dump());
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int64_t count_rows(sqlite::Database& db, const char* table) {
  auto n = db.read([&](sqlite::Connection& conn) {
    return conn.query_value<int64_t>(std::string("SELECT count(*) FROM ") + table);
  });
  if (!n || !*n) die(std::string("count ") + table);
  return **n;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 10000000;
  const int devices = argc > 2 ? std::atoi(argv[2]) : 1000;
  if (devices < 2 || rows < kDaySamples + devices)
    die("need devices >= 2, rows >= 86400 + devices");
  std::vector<std::string> names, topics;
  for (int k = 0; k < devices; ++k) {
    names.push_back(device_name(k));
    topics.push_back(std::string(kPrefix) + "/" + names.back());
  }
  const auto dir = temp_dir();
  const auto file = dir / sqlite::kTelemetryDatabaseFile;

  // 1. Generate: one thread makes the records, the store's writer inserts the previous chunk.
  const double g0 = wall_seconds();
  int64_t rollup_1m = 0, rollup_1h = 0;
  const std::set<int> checked{0, 1, devices / 2, devices - 1};
  double generate_s = 0, verify_s = 0;
  {
    auto store = sqlite::open_store(sqlite::StoreConfig{dir, 5000, 512, sqlite::Synchronous::kOff});
    if (!store) die("open_store: " + store.error().detail);
    auto& db = (*store)->telemetry();
    auto repo = sqlite::make_telemetry_repository((*store)->telemetry_ptr());
    StepClock clock;
    EventBus bus;
    auto svc = make_service(*repo, clock, bus);
    Samples samples(rows, devices);
    auto make = [&] { return produce(samples, *svc, clock, names, topics); };
    auto next = std::async(std::launch::async, make);
    int64_t written = 0, reported = 0;
    bool first = true;
    for (;;) {
      auto chunk = next.get();
      if (chunk->records.empty()) break;
      next = std::async(std::launch::async, make);
      auto w = db.write([&](sqlite::Connection& conn) -> Result<void> {
        if (first) {
          // The writer's page cache (the daemon keeps SQLite's default): fewer re-reads of the
          // ~1,000 insertion points of each index. Readers keep the default.
          if (auto r = conn.exec("PRAGMA cache_size = -524288"); !r) return r;
          first = false;
        }
        return write_chunk(conn, *chunk, names);
      });
      if (!w) die("write: " + w.error().detail);
      written += static_cast<int64_t>(chunk->records.size());
      if (written - reported >= 1000000) {
        reported = written;
        std::fprintf(stderr, "  %lld rows, %.0f s\n", static_cast<long long>(written),
                     wall_seconds() - g0);
      }
    }
    if (written != rows) die("wrote " + std::to_string(written) + " rows");
    generate_s = wall_seconds() - g0;
    rollup_1m = count_rows(db, "telemetry_rollup_1m");
    rollup_1h = count_rows(db, "telemetry_rollup_1h");

    // 2. Verify the measured device and three others against the service's own writes.
    const double v0 = wall_seconds();
    verify(db, rows, devices, checked, topics);
    verify_s = wall_seconds() - v0;
    svc.reset();
    repo.reset();
    store->reset();  // checkpoints and removes the WAL
  }
  std::uintmax_t bytes = std::filesystem::file_size(file);
  if (std::error_code ec; std::filesystem::exists(dir / "telemetry.db-wal", ec))
    bytes += std::filesystem::file_size(dir / "telemetry.db-wal");
  std::printf(
      "store: %lld rows across %d devices (86400 of SN-Q), %lld 1m + %lld 1h rollup rows; "
      "telemetry.db %.0f MiB; generated in %.0f s (%.0f rows/s); %zu devices' rows and rollups "
      "equal to the service's (%.0f s)\n",
      static_cast<long long>(rows), devices, static_cast<long long>(rollup_1m),
      static_cast<long long>(rollup_1h), static_cast<double>(bytes) / (1 << 20), generate_s,
      static_cast<double>(rows) / generate_s, checked.size(), verify_s);
  std::fflush(stdout);

  // 3. Measure on a freshly opened store, as the daemon serves it (readers with the default cache).
  {
    auto store = sqlite::open_store(sqlite::StoreConfig{dir, 5000, 512});
    if (!store) die("open_store: " + store.error().detail);
    auto reader = sqlite::make_telemetry_reader((*store)->telemetry_ptr());
    // As the device's owner asks for it: GET /api/devices/SN-Q/telemetry?interval=1m&from=..&to=..
    const SeriesQuery q{"SN-Q",
                        owner_of("SN-Q"),
                        kDay,
                        kDay + kDayMs,
                        Interval::kMinute,
                        {"actualTemperature"},
                        {"avg", "min", "max", "count"},
                        10000,
                        std::nullopt};
    auto rollups = [&] {
      const double w0 = wall_seconds();
      auto page = query_series(*reader, q);
      const double w1 = wall_seconds();
      if (!page) die("query_series: " + page.error().detail);
      return std::pair{w1 - w0, std::move(*page)};
    };
    auto raw = [&] {
      const double w0 = wall_seconds();
      auto buckets = from_raw(*reader, q);
      return std::pair{wall_seconds() - w0, std::move(buckets)};
    };
    evict(file);
    const auto [cold_rollups, page] = rollups();
    evict(file);
    const auto [cold_raw, buckets] = raw();
    check_agree(page, buckets, q.fields[0]);
    std::vector<double> warm_rollups, warm_raw;
    for (int r = 0; r < 7; ++r) {
      auto [t1, p] = rollups();
      auto [t2, b] = raw();
      check_agree(p, b, q.fields[0]);
      warm_rollups.push_back(t1);
      warm_raw.push_back(t2);
    }
    const double wr = median(warm_rollups), wb = median(warm_raw);
    std::printf(
        "query: SN-Q's day of 1 s samples to 1m buckets (%zu points, actualTemperature "
        "avg/min/max/count, answers equal): rollups cold %.1f ms, warm %.1f ms (median of 7); "
        "from raw rows cold %.0f ms, warm %.0f ms; ratio warm %.0fx, cold %.0fx\n",
        page.points.size(), cold_rollups * 1e3, wr * 1e3, cold_raw * 1e3, wb * 1e3, wb / wr,
        cold_raw / cold_rollups);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
