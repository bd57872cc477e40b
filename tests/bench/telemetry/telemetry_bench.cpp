// Telemetry micro-benchmark (issue 14 item 7, the daemon's share): CPU per message of the telemetry
// service's store step (parse, pipeline, rollups, SQLite append with group commit) in three
// configurations measured in the same run, with the ratio to the bare store step (no pipeline, no
// rollups). Then a query figure: one device-day of 1 s samples aggregated to 1-minute buckets,
// from the rollups vs from the raw rows (the same answer computed by scanning, measured in the
// same run). Prints figures; asserts nothing about time.
//
//   build/bin/sp_telemetry_bench [messages=20000] [devices=100]

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "bench_util.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/telemetry/pipeline.hpp"
#include "smartproduct/telemetry/query.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace {

using namespace sp;
using namespace sp::telemetry;
using namespace sp::bench;

struct Figures {
  double cpu_us_per_msg = 0;
  double msgs_per_s = 0;
  double jobs_per_tx = 0;
};

// Devices the messages come from, in turn (argv[2], default 100). With many devices each commit
// touches more rollup rows (one per device, bucket, field and resolution), up to ~10 per message.
int g_devices = 100;

// Ingests `n` seed-shaped messages from g_devices devices; the writer group-commits as in the
// daemon.
Figures run(int n, bool pipeline, bool rollups) {
  const auto dir = temp_dir();
  Figures f;
  {
    auto store = sqlite::open_store(sqlite::StoreConfig{dir, 5000, 512});
    if (!store) std::abort();
    auto repo = sqlite::make_telemetry_repository((*store)->telemetry_ptr());
    StepClock clock;
    EventBus bus;
    TelemetryService svc(IngestConfig{"smartproduct/telemetry", 4096}, *repo, clock, bus);
    svc.set_pipeline(
        *Pipeline::compile(pipeline ? Pipeline::default_activities() : std::vector<std::string>{}));
    svc.set_rollups(rollups);
    svc.set_device_lookup([](const std::string& id) -> std::optional<DeviceAttributes> {
      return DeviceAttributes{"name-" + id, "25HNB9", "user-1", nlohmann::json::object()};
    });
    std::vector<std::string> topics, payloads;
    for (int i = 0; i < n; ++i) {
      const std::string serial = "SN-" + std::to_string(i % g_devices);
      topics.push_back("smartproduct/telemetry/" + serial);
      payloads.push_back(nlohmann::json{{"deviceId", serial},
                                        {"actualTemperature", 60 + (i % 300) * 0.1},
                                        {"targetTemperature", 70 + i % 5},
                                        {"sentAt", "2019-05-01T12:43:07-07:00"},
                                        {"createdAt", "2019-05-01T12:43:07-07:00"},
                                        {"timestamp", clock.now - 60000 + i}}
                             .dump());
    }
    std::atomic<int> acked{0};
    std::promise<void> all;
    const double c0 = cpu_seconds(), w0 = wall_seconds();
    for (int i = 0; i < n; ++i) {
      svc.ingest(topics[i], payloads[i], [&](bool ok) {
        if (!ok) std::abort();
        if (++acked == n) all.set_value();
      });
    }
    all.get_future().wait();
    const double c1 = cpu_seconds(), w1 = wall_seconds();
    f.cpu_us_per_msg = (c1 - c0) * 1e6 / n;
    const auto st = (*store)->telemetry().stats();
    f.jobs_per_tx = st.transactions_committed
                        ? static_cast<double>(st.jobs_committed) / st.transactions_committed
                        : 0;
    f.msgs_per_s = n / (w1 - w0);
  }
  std::filesystem::remove_all(dir);
  return f;
}

// The pipeline alone (no store): parse + pipeline + serialise, per message, in this thread.
double prepare_us(bool pipeline, int n) {
  auto dir = temp_dir();
  double us = 0;
  {
    auto store = sqlite::open_store(sqlite::StoreConfig{dir, 5000, 512});
    if (!store) std::abort();
    auto repo = sqlite::make_telemetry_repository((*store)->telemetry_ptr());
    StepClock clock;
    EventBus bus;
    TelemetryService svc(IngestConfig{"smartproduct/telemetry", 4096}, *repo, clock, bus);
    svc.set_pipeline(
        *Pipeline::compile(pipeline ? Pipeline::default_activities() : std::vector<std::string>{}));
    const std::string payload =
        R"({"createdAt":"2019-05-01T12:43:07-07:00","deviceId":"SN-1","actualTemperature":45.75,)"
        R"("targetTemperature":70,"sentAt":"2019-05-01T12:43:07-07:00","timestamp":1795819020000})";
    TelemetryRecord record;
    const double c0 = cpu_seconds();
    for (int i = 0; i < n; ++i) {
      svc.prepare("SN-1", nlohmann::json::parse(payload), payload, record);
    }
    us = (cpu_seconds() - c0) * 1e6 / n;
  }
  std::filesystem::remove_all(dir);
  return us;
}

void query_bench() {
  // One device-day of 1 s samples (86,400), stored through the service with rollups on.
  const auto dir = temp_dir();
  auto store =
      sqlite::open_store(sqlite::StoreConfig{dir, 5000, 512, sqlite::Synchronous::kNormal});
  if (!store) std::abort();
  auto repo = sqlite::make_telemetry_repository((*store)->telemetry_ptr());
  auto reader = sqlite::make_telemetry_reader((*store)->telemetry_ptr());
  StepClock clock;
  clock.now = 1795824000000;  // a UTC midnight
  EventBus bus;
  TelemetryService svc(IngestConfig{"smartproduct/telemetry", 4096}, *repo, clock, bus);
  const int64_t day = clock.now;
  clock.now += 86400000;
  std::atomic<int> acked{0};
  std::promise<void> all;
  const int n = 86400;
  for (int i = 0; i < n; ++i) {
    svc.ingest("smartproduct/telemetry/SN-Q",
               nlohmann::json{{"actualTemperature", 60 + (i % 300) * 0.1},
                              {"targetTemperature", 70 + i % 5},
                              {"timestamp", day + i * 1000LL}}
                   .dump(),
               [&](bool) {
                 if (++acked == n) all.set_value();
               });
  }
  all.get_future().wait();
  SeriesQuery q{"SN-Q",
                std::nullopt,
                day,
                day + 86400000,
                Interval::kMinute,
                {"actualTemperature"},
                {"avg", "min", "max", "count"},
                10000,
                std::nullopt};
  const int reps = 5;
  double best_rollup = 1e9, best_raw = 1e9;
  std::size_t points = 0;
  for (int r = 0; r < reps; ++r) {
    double w0 = wall_seconds();
    auto page = query_series(*reader, q);
    double w1 = wall_seconds();
    if (!page) std::abort();
    points = page->points.size();
    best_rollup = std::min(best_rollup, w1 - w0);
    // The same buckets from raw rows (what a store without rollups has to do).
    w0 = wall_seconds();
    store::TelemetryReader::RawQuery rq{"SN-Q",         std::nullopt, day,
                                        day + 86400000, std::nullopt, n + 1};
    auto raw = reader->raw(rq);
    if (!raw) std::abort();
    std::map<int64_t, Aggregate> buckets;
    for (const auto& row : *raw) {
      auto body = nlohmann::json::parse(row.payload);
      double v = body["actualTemperature"].get<double>();
      Aggregate a{1, v, v, v, row.t_ms, row.t_ms, v, v};
      buckets[row.t_ms / 60000 * 60000].merge(a);
    }
    w1 = wall_seconds();
    if (buckets.size() != points) std::abort();
    best_raw = std::min(best_raw, w1 - w0);
  }
  std::printf(
      "query: 1 device-day of 1 s samples (86400 rows) to 1m buckets (%zu points): rollups %.1f "
      "ms, from raw rows %.1f ms, ratio %.1fx\n",
      points, best_rollup * 1e3, best_raw * 1e3, best_raw / best_rollup);
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  if (argc > 2) g_devices = std::max(1, std::atoi(argv[2]));
  // Warm-up, then each configuration; the bare store step is the baseline.
  run(n / 4, false, false);
  const Figures bare = run(n, false, false);
  const Figures pipe = run(n, true, false);
  const Figures full = run(n, true, true);
  auto line = [&](const char* name, const Figures& f) {
    std::printf("%-34s %7.2f us CPU/msg  %8.0f msg/s  %6.1f msg/commit  CPU ratio to bare %.2f\n",
                name, f.cpu_us_per_msg, f.msgs_per_s, f.jobs_per_tx,
                f.cpu_us_per_msg / bare.cpu_us_per_msg);
  };
  std::printf("telemetry store step, %d messages from %d devices, synchronous=FULL\n", n,
              g_devices);
  line("bare (no pipeline, no rollups)", bare);
  line("default pipeline", pipe);
  line("default pipeline + 1m/1h rollups", full);
  std::printf("pipeline + rollups cost: %.2f us CPU/msg over bare\n",
              full.cpu_us_per_msg - bare.cpu_us_per_msg);
  const double p0 = prepare_us(false, 100000), p1 = prepare_us(true, 100000);
  std::printf(
      "prepare (JSON parse + dedup hash + pipeline + stored text), no store: bare %.2f us, default "
      "pipeline %.2f us (+%.2f us, ratio %.2f)\n",
      p0, p1, p1 - p0, p1 / p0);
  query_bench();
  return 0;
}
