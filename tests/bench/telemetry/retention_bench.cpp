// Telemetry retention benchmark (issue 14 item 7 (c)): pruning throughput while ingesting, and the
// ingest rate with pruning on vs off, measured in the same run on the same store. The store is
// first filled with back-dated samples (older than raw_retention_days) from 100 devices; then
//   off: N fresh messages ingested through the service (group commit as in the daemon), no pruning;
//   on:  N more fresh messages while a retention pass deletes the old rows in bounded jobs on the
//        same writer.
// Prints rows/s pruned, the longest pruning job, ingest msg/s for both, and the ratio on/off.
// Asserts nothing about time.
//
//   build/bin/sp_telemetry_retention_bench [old_rows=200000] [messages=40000] [batch_rows=1000]

#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/telemetry/retention.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/maintenance.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace {

using namespace sp;
using namespace sp::telemetry;
using namespace sp::bench;

constexpr int64_t kDay = 86'400'000;

// Ingests n messages whose device time is `t0 + i` ms; returns msg/s (wall).
double ingest(TelemetryService& svc, int n, int64_t t0, int seq0) {
  std::vector<std::string> topics, payloads;
  topics.reserve(n);
  payloads.reserve(n);
  for (int i = 0; i < n; ++i) {
    const std::string serial = "SN-" + std::to_string(i % 100);
    topics.push_back("smartproduct/telemetry/" + serial);
    payloads.push_back(nlohmann::json{
        {"actualTemperature", 60 + (i % 300) * 0.1},
        {"targetTemperature", 70 + i % 5},
        {"timestamp", t0 + i},
        {"seq", seq0 + i}}.dump());
  }
  std::atomic<int> acked{0};
  std::promise<void> all;
  const double w0 = wall_seconds();
  for (int i = 0; i < n; ++i) {
    svc.ingest(topics[i], payloads[i], [&](bool ok) {
      if (!ok) std::abort();
      if (++acked == n) all.set_value();
    });
  }
  all.get_future().wait();
  return n / (wall_seconds() - w0);
}

}  // namespace

int main(int argc, char** argv) {
  const int old_rows = argc > 1 ? std::atoi(argv[1]) : 200000;
  const int n = argc > 2 ? std::atoi(argv[2]) : 40000;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 1000;
  const std::filesystem::path dir = temp_dir();
  {
    auto store = sqlite::open_store(sqlite::StoreConfig{dir, 5000, 512});
    if (!store) return 1;
    auto repo = sqlite::make_telemetry_repository((*store)->telemetry_ptr());
    auto maintenance = sqlite::make_telemetry_maintenance((*store)->telemetry_ptr());
    StepClock clock;
    EventBus bus;
    TelemetryService svc(IngestConfig{"smartproduct/telemetry", 4096}, *repo, clock, bus);

    // Old samples: 40 days back (raw retention is 30), each with its rollups.
    const double f0 = wall_seconds();
    ingest(svc, old_rows, clock.now - 40 * kDay, 0);
    std::printf("filled %d back-dated samples in %.1f s\n", old_rows, wall_seconds() - f0);

    const double off = ingest(svc, n, clock.now - 60'000, old_rows);

    RetentionConfig config;
    config.retention_batch_rows = batch;
    RetentionService retention(config, *maintenance, clock, {});
    double prune_s = 0;
    int64_t pruned = 0;
    std::thread pruner([&] {
      const double w0 = wall_seconds();
      auto r = retention.run_retention();
      prune_s = wall_seconds() - w0;
      pruned = r ? *r : -1;
    });
    const double w0 = wall_seconds();
    const double on = ingest(svc, n, clock.now - 30'000, old_rows + n);
    const double ingest_s = wall_seconds() - w0;
    pruner.join();
    const auto& st = retention.stats();
    std::printf(
        "pruning: %lld rows (raw %llu, 1m %llu, 1h %llu) in %.2f s = %.0f rows/s, "
        "%llu jobs of <= %d rows, longest job %.1f ms, %llu pages reclaimed\n",
        static_cast<long long>(pruned), static_cast<unsigned long long>(st.pruned_raw),
        static_cast<unsigned long long>(st.pruned_1m),
        static_cast<unsigned long long>(st.pruned_1h), prune_s, pruned / prune_s,
        static_cast<unsigned long long>(st.batches.load()), batch,
        st.longest_batch_us.load() / 1000.0,
        static_cast<unsigned long long>(st.reclaimed_pages.load()));
    std::printf(
        "ingest: pruning off %.0f msg/s, pruning on %.0f msg/s (%.2f s, overlapped %s), "
        "ratio on/off %.2f\n",
        off, on, ingest_s, prune_s >= ingest_s ? "fully" : "partly", on / off);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
