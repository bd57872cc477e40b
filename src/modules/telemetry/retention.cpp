#include "smartproduct/telemetry/retention.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace sp::telemetry {

namespace {
constexpr std::int64_t kDayMs = 86'400'000;
// A pass stops after this many jobs per table even if old rows remain (a device flooding
// back-dated samples must not keep the thread in one pass); the next pass continues.
constexpr int kMaxStepsPerPass = 100'000;
constexpr int kMaxVacuumSteps = 100'000;
}  // namespace

RetentionService::RetentionService(RetentionConfig config, store::TelemetryMaintenance& store,
                                   const Clock& clock, FreeSpaceProbe free_space)
    : config_(config), store_(store), clock_(clock), free_space_(std::move(free_space)) {}

RetentionService::~RetentionService() { stop(); }

void RetentionService::note_batch(const store::PruneStep& step) {
  stats_.batches++;
  std::int64_t longest = stats_.longest_batch_us.load();
  while (step.elapsed_us > longest &&
         !stats_.longest_batch_us.compare_exchange_weak(longest, step.elapsed_us)) {
  }
}

Result<std::int64_t> RetentionService::prune_table(store::TelemetryTable table, int days) {
  if (days <= 0) return 0;
  const std::int64_t cutoff = clock_.now_ms() - static_cast<std::int64_t>(days) * kDayMs;
  std::int64_t total = 0;
  for (int i = 0; i < kMaxStepsPerPass; ++i) {
    auto step = store_.prune_older(table, cutoff, config_.retention_batch_rows);
    if (!step) return tl::unexpected(step.error());
    note_batch(*step);
    total += step->deleted;
    if (step->pass_done && step->deleted < config_.retention_batch_rows) break;
    std::lock_guard lock(run_mutex_);
    if (stopping_) break;
  }
  return total;
}

void RetentionService::reclaim() {
  for (int i = 0; i < kMaxVacuumSteps; ++i) {
    auto pages = store_.reclaim(config_.vacuum_step_pages);
    if (!pages) {
      stats_.failures++;
      spdlog::warn("telemetry retention: incremental vacuum failed: {} ({})", pages.error().message,
                   pages.error().detail);
      return;
    }
    stats_.reclaimed_pages += static_cast<std::uint64_t>(*pages);
    if (*pages < config_.vacuum_step_pages) return;
  }
}

Result<std::int64_t> RetentionService::run_retention() {
  using store::TelemetryTable;
  std::int64_t total = 0;
  struct Target {
    TelemetryTable table;
    int days;
    std::atomic<std::uint64_t>* counter;
  };
  for (const Target& t :
       {Target{TelemetryTable::kRaw, config_.raw_retention_days, &stats_.pruned_raw},
        Target{TelemetryTable::kRollup1m, config_.rollup_1m_retention_days, &stats_.pruned_1m},
        Target{TelemetryTable::kRollup1h, config_.rollup_1h_retention_days, &stats_.pruned_1h}}) {
    auto n = prune_table(t.table, t.days);
    if (!n) {
      stats_.failures++;
      return tl::unexpected(n.error());
    }
    *t.counter += static_cast<std::uint64_t>(*n);
    total += *n;
  }
  if (total > 0) reclaim();
  stats_.passes++;
  return total;
}

bool RetentionService::check_disk() {
  // Why intake must stop now ("" = it need not), from fresh measurements.
  auto over = [&]() -> std::optional<std::string> {
    auto space = store_.space();
    if (!space) {
      stats_.failures++;
      return std::nullopt;  // unknown: keep the current state
    }
    stats_.used_bytes = space->used_bytes();
    stats_.file_bytes = space->file_bytes + space->wal_bytes;
    std::optional<std::int64_t> fs_free = free_space_ ? free_space_() : std::nullopt;
    stats_.fs_free_bytes = fs_free.value_or(-1);
    if (config_.max_disk_bytes > 0 && space->used_bytes() > config_.max_disk_bytes) {
      return fmt::format("telemetry database uses {} bytes, over [telemetry] max_disk_bytes {}",
                         space->used_bytes(), config_.max_disk_bytes);
    }
    if (config_.min_free_bytes > 0 && fs_free && *fs_free < config_.min_free_bytes) {
      return fmt::format("data directory has {} bytes free, under [telemetry] min_free_bytes {}",
                         *fs_free, config_.min_free_bytes);
    }
    if (full_.load()) return std::string("telemetry database could not write: disk full");
    return std::string();
  };

  auto why = over();
  if (!why) return paused_.load();
  // Over a limit: the oldest raw samples go first (their rollups stay).
  for (int i = 0; !why->empty() && i < config_.guard_prune_batches; ++i) {
    auto step = store_.prune_oldest_raw(config_.retention_batch_rows);
    if (!step) {
      stats_.failures++;
      spdlog::warn("telemetry disk guard: pruning failed: {} ({})", step.error().message,
                   step.error().detail);
      break;
    }
    note_batch(*step);
    stats_.guard_pruned += static_cast<std::uint64_t>(step->deleted);
    if (step->deleted == 0) break;
    reclaim();
    // The pages just freed are where the next writes go: a full disk has room again.
    full_ = false;
    why = over();
    if (!why) return paused_.load();
  }
  if (why->empty()) {
    set_paused(false, "");
  } else {
    // Retried on the next check: a write that failed for space is only a hint.
    full_ = false;
    set_paused(true, *why);
  }
  return paused_.load();
}

void RetentionService::report_full() {
  full_ = true;
  set_paused(true, "telemetry database could not write: disk full");
  std::lock_guard lock(run_mutex_);
  wake_.notify_all();
}

std::string RetentionService::pause_reason() const {
  std::lock_guard lock(reason_mutex_);
  return reason_;
}

void RetentionService::set_paused(bool paused, std::string reason) {
  {
    std::lock_guard lock(reason_mutex_);
    reason_ = reason;
  }
  if (paused_.exchange(paused) == paused) return;
  if (paused) {
    spdlog::warn("telemetry intake paused: {} (messages wait at the broker)", reason);
  } else {
    spdlog::info("telemetry intake resumed");
  }
  if (listener_) listener_(paused, reason);
}

void RetentionService::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(run_mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    using Clock = std::chrono::steady_clock;
    auto next_check = Clock::now();
    auto next_pass = Clock::now() + std::chrono::milliseconds(config_.retention_interval_ms);
    std::unique_lock lock(run_mutex_);
    while (!stopping_) {
      const auto now = Clock::now();
      if (now >= next_check || full_.load()) {
        lock.unlock();
        check_disk();
        lock.lock();
        next_check = Clock::now() + std::chrono::milliseconds(config_.disk_check_interval_ms);
        continue;
      }
      if (now >= next_pass) {
        lock.unlock();
        if (auto r = run_retention(); !r) {
          spdlog::warn("telemetry retention: {} ({})", r.error().message, r.error().detail);
        }
        lock.lock();
        next_pass = Clock::now() + std::chrono::milliseconds(config_.retention_interval_ms);
        continue;
      }
      // Checks also run without limits: they keep the space gauges current.
      wake_.wait_until(lock, std::min(next_check, next_pass));
    }
  });
}

void RetentionService::stop() {
  {
    std::lock_guard lock(run_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sp::telemetry
