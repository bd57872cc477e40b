#include "smartproduct/detect/service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "smartproduct/detect/profiles.hpp"
#include "smartproduct/http/errors.hpp"

namespace sp::detect {

using nlohmann::json;

namespace {

std::optional<std::string> statistic_of(const Rule& r) {
  if (!r.percentile) return std::nullopt;
  return fmt::format("p{}", *r.percentile);
}

std::string format_value(double v) {
  return v == static_cast<double>(static_cast<std::int64_t>(v))
             ? std::to_string(static_cast<std::int64_t>(v))
             : fmt::format("{:.2f}", v);
}

}  // namespace

DetectService::DetectService(store::DetectRepository& repo, const Clock& clock,
                             DetectActions actions, DetectSettings settings)
    : repo_(repo),
      clock_(clock),
      actions_(std::move(actions)),
      settings_(settings),
      engine_(
          [this](const std::string& id) {
            return actions_.model_of ? actions_.model_of(id) : std::nullopt;
          },
          [this](const std::string& id, Metric m, int duration_s) -> std::optional<Baseline> {
            auto b = repo_.baseline(id, std::string(to_string(m)), duration_s);
            if (!b) {
              spdlog::warn("detect: baseline of {} not read: {}", id, b.error().detail);
              return std::nullopt;
            }
            if (!*b) return std::nullopt;
            auto parsed = Baseline::from_bytes(**b);
            if (!parsed)
              spdlog::warn("detect: stored baseline of {} is unreadable: relearning", id);
            return parsed;
          }) {}

DetectService::~DetectService() { stop(); }

Result<void> DetectService::start() {
  auto stored = profiles();
  if (!stored) return tl::unexpected(stored.error());
  engine_.set_profiles(std::move(*stored));
  auto active = repo_.active_violations();
  if (!active) return tl::unexpected(active.error());
  for (const auto& v : *active) {
    engine_.restore_active(v.device_id, v.profile, v.rule, v.last_violation_at_ms);
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  worker_ = std::thread([this] { work(); });
  return {};
}

void DetectService::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Result<std::vector<Profile>> DetectService::profiles() {
  auto rows = repo_.profiles();
  if (!rows) return tl::unexpected(rows.error());
  json doc = {{"profiles", json::array()}};
  for (const auto& r : *rows) {
    doc["profiles"].push_back({{"name", r.name},
                               {"model", r.model ? json(*r.model) : json(nullptr)},
                               {"rules", json::parse(r.rules, nullptr, false)}});
  }
  auto parsed = parse_profiles(doc);
  if (!parsed) {
    // Only this service writes them, validated: a failure here is a bug or a hand edit.
    return fail(errors::kInternalError, "", "stored security profiles: " + parsed.error().message);
  }
  return parsed;
}

Result<std::vector<Profile>> DetectService::replace_profiles(const json& document) {
  auto parsed = parse_profiles(document);
  if (!parsed) return parsed;
  std::vector<store::StoredProfile> rows;
  for (const auto& p : *parsed) rows.push_back({p.name, p.model, rules_json(p.rules).dump()});
  if (auto r = repo_.replace_profiles(rows, clock_.now_ms()); !r) return tl::unexpected(r.error());
  post([this, profiles = *parsed]() mutable { engine_.set_profiles(std::move(profiles)); });
  return parsed;
}

void DetectService::on_report(std::string_view payload) {
  {
    std::lock_guard lock(mutex_);
    if (reports_.size() >= settings_.max_queued_reports) {
      ++counters_.reports_dropped;
      return;
    }
    reports_.emplace_back(payload);
  }
  wake_.notify_all();
}

void DetectService::post(Job job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_all();
}

void DetectService::forget_model(const std::string& device_id) {
  post([this, device_id] { engine_.forget_model(device_id); });
}

void DetectService::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return stopping_ || (reports_.empty() && jobs_.empty() && !busy_); });
}

void DetectService::work() {
  using namespace std::chrono;
  auto next_tick = steady_clock::now();
  auto next_flush = steady_clock::now() + milliseconds(settings_.baseline_flush_ms);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_until(lock, next_tick,
                     [&] { return stopping_ || !reports_.empty() || !jobs_.empty(); });
    if (stopping_) break;
    std::deque<Job> jobs;
    jobs.swap(jobs_);
    std::deque<std::string> reports;
    reports.swap(reports_);
    busy_ = true;
    lock.unlock();
    const auto started = steady_clock::now();
    for (auto& job : jobs) job();
    for (const auto& r : reports) process_report(r);
    if (steady_clock::now() >= next_tick) {
      handle(engine_.tick(clock_.now_ms()));
      counters_.tracked_devices = engine_.tracked_devices();
      next_tick = steady_clock::now() + seconds(1);
    }
    if (steady_clock::now() >= next_flush) {
      save_baselines();
      next_flush = steady_clock::now() + milliseconds(settings_.baseline_flush_ms);
    }
    counters_.process_ns += duration_cast<nanoseconds>(steady_clock::now() - started).count();
    lock.lock();
    busy_ = false;
    idle_.notify_all();
  }
  lock.unlock();
  save_baselines();
  idle_.notify_all();
}

void DetectService::process_report(const std::string& payload) {
  auto report = parse_report(payload);
  if (!report) {
    ++counters_.reports_invalid;
    spdlog::warn("detect: a behaviour report that is not one was dropped ({} bytes)",
                 payload.size());
    return;
  }
  ++counters_.reports;
  if (report->skipped > 0) {
    spdlog::warn("detect: {} entries of behaviour report {} were not valid", report->skipped,
                 report->seq);
  }
  for (const auto& s : report->samples) {
    ++counters_.samples;
    handle(engine_.observe(s));
  }
}

void DetectService::handle(const std::vector<Transition>& transitions) {
  for (const auto& t : transitions) {
    const Rule& r = t.rule;
    if (t.kind == Transition::Kind::kContinued) {
      if (auto e = repo_.continue_violation(t.device_id, t.profile, r.name, t.value, t.at_ms); !e) {
        spdlog::error("detect: violation of {} not updated: {}", t.device_id, e.error().detail);
      }
      continue;
    }
    if (t.kind == Transition::Kind::kCleared) {
      auto cleared = repo_.clear_violation(t.device_id, t.profile, r.name, t.at_ms);
      if (!cleared) {
        spdlog::error("detect: violation of {} not cleared: {}", t.device_id,
                      cleared.error().detail);
        continue;
      }
      if (!*cleared) continue;
      ++counters_.cleared;
      // Its alert ends with it (the raise event of every admin is acknowledged).
      if (actions_.resolve_admin_alert) {
        actions_.resolve_admin_alert(fmt::format("detect-violation-{}", **cleared));
      }
      spdlog::info("detect: {} back to normal for {}/{}", t.device_id, t.profile, r.name);
      if (actions_.notify_admins) {
        actions_.notify_admins(
            "info",
            fmt::format("Security profile {}: device {} is back to normal for rule {}.", t.profile,
                        t.device_id, r.name),
            json{{"source", "detect"},
                 {"deviceId", t.device_id},
                 {"profile", t.profile},
                 {"rule", r.name},
                 {"status", "cleared"}},
            fmt::format("detect-{}-{}-{}-cleared-{}", t.device_id, t.profile, r.name, t.at_ms));
      }
      continue;
    }
    store::Violation v;
    v.device_id = t.device_id;
    v.profile = t.profile;
    v.rule = r.name;
    v.metric = std::string(to_string(r.metric));
    v.value = t.value;
    v.threshold = t.threshold;
    v.statistic = statistic_of(r);
    v.action = std::string(to_string(r.action));
    v.started_at_ms = t.at_ms;
    auto opened = repo_.open_violation(v);
    if (!opened) {
      spdlog::error("detect: violation of {} not recorded: {}", t.device_id, opened.error().detail);
      continue;
    }
    if (!opened->created) continue;  // the store already had it active
    const auto& row = opened->violation;
    ++counters_.raised;
    const std::string compared =
        r.percentile
            ? fmt::format("above its own p{} of {}", *r.percentile, format_value(t.threshold))
            : fmt::format("{} {}", to_string(r.comparison), format_value(t.threshold));
    const std::string message = fmt::format(
        "Security profile {}: device {} {} = {} in {} s ({}); action: {}.", t.profile, t.device_id,
        to_string(r.metric), format_value(t.value), r.duration_s, compared, to_string(r.action));
    spdlog::warn("detect: {}", message);
    if (r.action == Action::kQuarantine) {
      auto q = quarantine(t.device_id,
                          fmt::format("{}/{}: {} = {}", t.profile, r.name, to_string(r.metric),
                                      format_value(t.value)),
                          "detect", "detect", row.id);
      if (!q) spdlog::error("detect: {} not quarantined: {}", t.device_id, q.error().detail);
    } else if (r.action == Action::kRevoke && actions_.revoke_device) {
      auto n = actions_.revoke_device(t.device_id);
      if (!n) {
        spdlog::error("detect: certificates of {} not revoked: {}", t.device_id, n.error().detail);
      } else {
        spdlog::warn("detect: {} certificate(s) of {} revoked by {}/{}", *n, t.device_id, t.profile,
                     r.name);
      }
    }
    if (actions_.notify_admins) {
      actions_.notify_admins(r.action == Action::kNotify ? "warning" : "error", message,
                             json{{"source", "detect"},
                                  {"violationId", row.id},
                                  {"deviceId", t.device_id},
                                  {"profile", t.profile},
                                  {"rule", r.name},
                                  {"metric", to_string(r.metric)},
                                  {"value", t.value},
                                  {"threshold", t.threshold},
                                  {"action", to_string(r.action)}},
                             fmt::format("detect-violation-{}", row.id));
    }
  }
}

void DetectService::save_baselines() {
  auto dirty = engine_.take_dirty_baselines();
  if (dirty.empty()) return;
  std::vector<store::StoredBaseline> rows;
  rows.reserve(dirty.size());
  for (auto& d : dirty) {
    rows.push_back({std::move(d.device_id), std::string(to_string(d.metric)), d.duration_s,
                    std::move(d.bytes)});
  }
  if (auto r = repo_.save_baselines(rows, clock_.now_ms()); !r) {
    spdlog::error("detect: {} baselines not saved: {}", rows.size(), r.error().detail);
  }
}

Result<bool> DetectService::quarantine(const std::string& device_id, const std::string& reason,
                                       const std::string& source, const std::string& by,
                                       std::optional<std::int64_t> violation_id) {
  store::Quarantine q{device_id, reason, source, violation_id, clock_.now_ms(), by};
  auto added = repo_.add_quarantine(q);
  if (!added) return added;
  // Told again even when it already was: the broker may have missed the first command.
  if (actions_.quarantine_at_broker) actions_.quarantine_at_broker(device_id);
  if (*added) spdlog::warn("detect: device {} quarantined by {} ({})", device_id, by, reason);
  return added;
}

Result<void> DetectService::release(const std::string& device_id, const std::string& by) {
  auto released = repo_.release(device_id);
  if (!released) return tl::unexpected(released.error());
  if (!*released) return fail(errors::kNotQuarantined);
  if (actions_.release_at_broker) actions_.release_at_broker(device_id);
  spdlog::info("detect: device {} released from quarantine by {}", device_id, by);
  return {};
}

Result<std::optional<store::Quarantine>> DetectService::quarantine_of(
    const std::string& device_id) {
  return repo_.quarantine(device_id);
}

Result<std::vector<store::Quarantine>> DetectService::quarantined(
    int limit, std::optional<std::string> after) {
  return repo_.quarantined(limit, std::move(after));
}

Result<std::vector<store::Violation>> DetectService::violations(
    const store::ViolationFilter& filter, int limit, std::optional<std::int64_t> before_id) {
  return repo_.violations(filter, limit, before_id);
}

}  // namespace sp::detect
