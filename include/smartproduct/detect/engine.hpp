#pragma once
// The detection engine: judges each device's behaviour samples against the security profiles that
// apply to it (its model's and the all-devices ones) and says when a rule's verdict changes.
// Plain C++, single-threaded (the detect module calls it from its one worker thread), no store:
// its callers persist what it decides.
//
// Windows are tumbling and aligned to the epoch: a rule with durationSeconds d looks at
// [k·d, (k+1)·d). Every metric only grows within a window (sums, the largest size, a distinct
// count), so a rule that compares "above" (static greater-than, or a statistic) fires as soon as
// the running value crosses it, not when the window ends; "below" rules are judged when the window
// closes. A violation stays active until the device has had no violating window for the rule's
// clearAfterSeconds. Statistical rules learn from every closed window in which the device was
// active (a window without any report is not learned: an offline device would teach "zero").

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "smartproduct/detect/baseline.hpp"
#include "smartproduct/detect/types.hpp"

namespace sp::detect {

class BehaviourEngine {
 public:
  /// The device's model number (nullopt: unknown or unregistered: only all-devices profiles
  /// apply). Asked once per device until forget_model().
  using ModelOf = std::function<std::optional<std::string>(const std::string& device_id)>;
  /// A stored baseline, asked once when a statistical rule first needs it.
  using LoadBaseline = std::function<std::optional<Baseline>(const std::string& device_id,
                                                             Metric metric, int duration_s)>;

  /// A late report still counts in its window for this long after the window ended.
  static constexpr std::int64_t kGraceMs = 2000;

  BehaviourEngine(ModelOf model_of, LoadBaseline load_baseline);

  /// Replaces the rules. Violations of rules that still exist (same profile and rule name) stay
  /// active; those of rules that are gone are cleared by the next tick().
  void set_profiles(std::vector<Profile> profiles);
  const std::vector<Profile>& profiles() const { return profiles_; }

  /// A violation the store holds as active (at start): it clears like any other.
  void restore_active(const std::string& device_id, const std::string& profile,
                      const std::string& rule, std::int64_t last_violation_ms);

  /// One device's counters of one report interval.
  std::vector<Transition> observe(const BehaviourSample& sample);
  /// Closes the windows that ended (before now - kGraceMs) and clears what has been normal long
  /// enough. Call about once a second.
  std::vector<Transition> tick(std::int64_t now_ms);

  /// The device's model may have changed (registered, deleted): ask again on its next sample.
  void forget_model(const std::string& device_id);

  struct DirtyBaseline {
    std::string device_id;
    Metric metric;
    int duration_s;
    std::string bytes;
  };
  /// Baselines learned since the last call, serialised for the store.
  std::vector<DirtyBaseline> take_dirty_baselines();

  std::size_t tracked_devices() const { return devices_.size(); }
  std::size_t active_violations() const;

 private:
  struct Window {
    int duration_s = 0;
    std::int64_t index = -1;  // epoch ms / (duration_s * 1000); -1: no sample yet
    std::array<double, kMetricCount> value{};
    std::vector<std::string> addresses;  // distinct, at most kMaxAddresses
    std::uint64_t distinct_floor = 0;    // the largest distinct count one interval reported
  };
  struct RuleState {
    bool active = false;
    std::int64_t last_violation_ms = 0;
    std::int64_t violated_window = -1;  // the window that last violated (one raise per window)
    double worst = 0;                   // the value of that window's violation
    double threshold = 0;
    bool orphan = false;  // its rule is gone: clear at the next tick
  };
  struct BaselineSlot {
    Metric metric = Metric::kMessagesSent;
    int duration_s = 0;
    std::unique_ptr<Baseline> baseline;
    bool dirty = false;
    std::optional<double> cached;  // the percentile asked last, until the next add
    int cached_percentile = 0;
    std::int64_t cached_day = -1;
  };
  struct Applicable {
    std::size_t profile;
    std::size_t rule;
  };
  struct DeviceState {
    bool model_known = false;
    std::optional<std::string> model;
    std::uint64_t rules_generation = 0;
    std::vector<Applicable> rules;
    std::vector<Window> windows;
    std::unordered_map<std::string, RuleState> states;  // by "profile\nrule"
    std::vector<BaselineSlot> baselines;
    std::int64_t last_sample_ms = 0;
  };

  static constexpr std::size_t kMaxAddresses = 1000;

  DeviceState& device(const std::string& id);
  void refresh_rules(const std::string& id, DeviceState& d);
  Window& window_for(DeviceState& d, int duration_s);
  BaselineSlot& baseline_for(const std::string& id, DeviceState& d, Metric metric, int duration_s);
  std::optional<double> threshold_of(const std::string& id, DeviceState& d, const Rule& rule,
                                     std::int64_t day);
  double window_value(const Window& w, Metric metric) const;
  // Judges the window's value for one rule; returns the threshold when it violates.
  std::optional<double> violates(const std::string& id, DeviceState& d, const Rule& rule,
                                 double value, bool window_closed, std::int64_t day);
  void close_window(const std::string& id, DeviceState& d, Window& w, std::int64_t at_ms,
                    std::vector<Transition>& out);
  void note_violation(const std::string& id, DeviceState& d, const Profile& p, const Rule& r,
                      std::int64_t window, double value, double threshold, std::int64_t at_ms,
                      std::vector<Transition>& out);

  ModelOf model_of_;
  LoadBaseline load_baseline_;
  std::vector<Profile> profiles_;
  std::uint64_t generation_ = 1;
  std::unordered_map<std::string, DeviceState> devices_;
};

}  // namespace sp::detect
