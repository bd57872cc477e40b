#pragma once
// Detection's logic (issue 15 item 2): security profiles, the behaviour reports of the broker
// plugin judged by the engine on one worker thread, violations recorded, alerts raised and
// cleared, and the actions (quarantine, revoke). No HTTP, MQTT or SQLite: the module wires the
// store, the broker control channel and the events module in through DetectActions.
//
// Errors: InvalidSecurityProfile (422), NotQuarantined (404), StoreUnavailable (503).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/detect/engine.hpp"
#include "smartproduct/store/detect_repository.hpp"

namespace sp::detect {

/// What detection does to the world; each may be empty (then that effect is skipped).
struct DetectActions {
  /// The device's model number (profiles per model); nullopt when unknown.
  std::function<std::optional<std::string>(const std::string& device_id)> model_of;
  /// Tells the broker plugin to quarantine / release the device.
  std::function<void(const std::string& device_id)> quarantine_at_broker;
  std::function<void(const std::string& device_id)> release_at_broker;
  /// Revokes every active certificate of the device; how many.
  std::function<Result<int>(const std::string& device_id)> revoke_device;
  /// Records an event for every administrator (their alerts and notifications). `key` makes a
  /// retry idempotent.
  std::function<void(const std::string& type, const std::string& message,
                     const nlohmann::json& details, const std::string& key)>
      notify_admins;
  /// The condition announced by the event `key` is over: acknowledge its alerts.
  std::function<void(const std::string& key)> resolve_admin_alert;
};

struct DetectSettings {
  /// Reports waiting for the worker beyond this are dropped (counted): detection falls behind,
  /// ingest never waits for it.
  std::size_t max_queued_reports = 1000;
  /// How often learned baselines are written to the store (and at stop).
  std::int64_t baseline_flush_ms = 300'000;
};

class DetectService {
 public:
  DetectService(store::DetectRepository& repo, const Clock& clock, DetectActions actions,
                DetectSettings settings = {});
  ~DetectService();
  DetectService(const DetectService&) = delete;
  DetectService& operator=(const DetectService&) = delete;

  /// Loads the profiles and the active violations, starts the worker.
  Result<void> start();
  /// Drains nothing: queued reports are dropped; baselines are saved.
  void stop();

  /// GET /api/admin/security-profiles.
  Result<std::vector<Profile>> profiles();
  /// PUT: validates (422 InvalidSecurityProfile), stores, and has the engine use them.
  Result<std::vector<Profile>> replace_profiles(const nlohmann::json& document);

  /// A message on $SYS/smartproduct/behaviour (any thread; returns at once).
  void on_report(std::string_view payload);

  /// Quarantine by hand (source admin | audit) or by a rule (detect). false: it already was.
  Result<bool> quarantine(const std::string& device_id, const std::string& reason,
                          const std::string& source, const std::string& by,
                          std::optional<std::int64_t> violation_id = std::nullopt);
  /// 404 NotQuarantined when it is not.
  Result<void> release(const std::string& device_id, const std::string& by);
  Result<std::optional<store::Quarantine>> quarantine_of(const std::string& device_id);
  Result<std::vector<store::Quarantine>> quarantined(int limit, std::optional<std::string> after);
  Result<std::vector<store::Violation>> violations(const store::ViolationFilter& filter, int limit,
                                                   std::optional<std::int64_t> before_id);

  /// The device's model may have changed (the devices module's events).
  void forget_model(const std::string& device_id);

  /// Waits until every report and job queued so far was processed (tests).
  void flush();

  struct Counters {
    std::atomic<std::uint64_t> reports{0};
    std::atomic<std::uint64_t> reports_invalid{0};
    std::atomic<std::uint64_t> reports_dropped{0};
    std::atomic<std::uint64_t> samples{0};
    std::atomic<std::uint64_t> raised{0};
    std::atomic<std::uint64_t> cleared{0};
    std::atomic<std::uint64_t> tracked_devices{0};
    std::atomic<std::uint64_t> process_ns{0};  // worker time spent on reports and ticks
  };
  const Counters& counters() const { return counters_; }

 private:
  using Job = std::function<void()>;
  void post(Job job);
  void work();
  void process_report(const std::string& payload);
  void handle(const std::vector<Transition>& transitions);
  void save_baselines();

  store::DetectRepository& repo_;
  const Clock& clock_;
  DetectActions actions_;
  DetectSettings settings_;
  BehaviourEngine engine_;  // the worker's only
  Counters counters_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::string> reports_;
  std::deque<Job> jobs_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace sp::detect
