#include "smartproduct/detect/engine.hpp"

#include <algorithm>

namespace sp::detect {

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

std::string state_key(const std::string& profile, const std::string& rule) {
  return profile + '\n' + rule;
}

bool compare(Comparison c, double value, double threshold) {
  switch (c) {
    case Comparison::kGreaterThan:
      return value > threshold;
    case Comparison::kGreaterThanEquals:
      return value >= threshold;
    case Comparison::kLessThan:
      return value < threshold;
    case Comparison::kLessThanEquals:
      return value <= threshold;
  }
  return false;
}

// "Above" rules can be decided while the window is open: its values only grow.
bool decidable_early(const Rule& r) {
  return r.percentile || r.comparison == Comparison::kGreaterThan ||
         r.comparison == Comparison::kGreaterThanEquals;
}

}  // namespace

BehaviourEngine::BehaviourEngine(ModelOf model_of, LoadBaseline load_baseline)
    : model_of_(std::move(model_of)), load_baseline_(std::move(load_baseline)) {}

void BehaviourEngine::set_profiles(std::vector<Profile> profiles) {
  profiles_ = std::move(profiles);
  ++generation_;
  // Violations of rules that are gone clear at the next tick; the others carry on.
  for (auto& [id, d] : devices_) {
    for (auto& [key, st] : d.states) {
      const auto nl = key.find('\n');
      const std::string profile = key.substr(0, nl);
      const std::string rule = key.substr(nl + 1);
      bool found = false;
      for (const auto& p : profiles_) {
        if (p.name != profile) continue;
        for (const auto& r : p.rules) found = found || r.name == rule;
      }
      st.orphan = !found;
    }
  }
}

void BehaviourEngine::restore_active(const std::string& device_id, const std::string& profile,
                                     const std::string& rule, std::int64_t last_violation_ms) {
  auto& d = devices_[device_id];
  auto& st = d.states[state_key(profile, rule)];
  st.active = true;
  st.last_violation_ms = last_violation_ms;
  bool found = false;
  for (const auto& p : profiles_) {
    if (p.name != profile) continue;
    for (const auto& r : p.rules) found = found || r.name == rule;
  }
  st.orphan = !found;
}

void BehaviourEngine::forget_model(const std::string& device_id) {
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return;
  it->second.model_known = false;
  it->second.rules_generation = 0;
}

BehaviourEngine::DeviceState& BehaviourEngine::device(const std::string& id) {
  auto& d = devices_[id];
  if (d.rules_generation != generation_ || !d.model_known) refresh_rules(id, d);
  return d;
}

void BehaviourEngine::refresh_rules(const std::string& id, DeviceState& d) {
  if (!d.model_known) {
    d.model = model_of_ ? model_of_(id) : std::nullopt;
    d.model_known = true;
  }
  d.rules.clear();
  for (std::size_t p = 0; p < profiles_.size(); ++p) {
    if (profiles_[p].model && profiles_[p].model != d.model) continue;
    for (std::size_t r = 0; r < profiles_[p].rules.size(); ++r) d.rules.push_back({p, r});
  }
  // Windows of durations no rule uses any more are dropped (unlearned); the others keep counting.
  std::vector<Window> kept;
  for (auto& w : d.windows) {
    bool used = false;
    for (const auto& a : d.rules)
      used = used || profiles_[a.profile].rules[a.rule].duration_s == w.duration_s;
    if (used) kept.push_back(std::move(w));
  }
  d.windows = std::move(kept);
  d.rules_generation = generation_;
}

BehaviourEngine::Window& BehaviourEngine::window_for(DeviceState& d, int duration_s) {
  for (auto& w : d.windows) {
    if (w.duration_s == duration_s) return w;
  }
  d.windows.push_back(Window{});
  d.windows.back().duration_s = duration_s;
  return d.windows.back();
}

BehaviourEngine::BaselineSlot& BehaviourEngine::baseline_for(const std::string& id, DeviceState& d,
                                                             Metric metric, int duration_s) {
  for (auto& b : d.baselines) {
    if (b.metric == metric && b.duration_s == duration_s) return b;
  }
  BaselineSlot slot;
  slot.metric = metric;
  slot.duration_s = duration_s;
  std::optional<Baseline> stored;
  if (load_baseline_) stored = load_baseline_(id, metric, duration_s);
  slot.baseline = std::make_unique<Baseline>(stored ? std::move(*stored) : Baseline{});
  d.baselines.push_back(std::move(slot));
  return d.baselines.back();
}

std::optional<double> BehaviourEngine::threshold_of(const std::string& id, DeviceState& d,
                                                    const Rule& rule, std::int64_t day) {
  if (!rule.percentile) return rule.value;
  auto& slot = baseline_for(id, d, rule.metric, rule.duration_s);
  if (slot.baseline->samples(day) < static_cast<std::uint64_t>(rule.min_samples)) {
    return std::nullopt;  // still learning
  }
  if (slot.cached_day != day || slot.cached_percentile != *rule.percentile) {
    slot.cached = slot.baseline->percentile(*rule.percentile, day);
    slot.cached_day = day;
    slot.cached_percentile = *rule.percentile;
  }
  return slot.cached;
}

double BehaviourEngine::window_value(const Window& w, Metric metric) const {
  if (metric == Metric::kSourceIpAddresses) {
    return static_cast<double>(std::max<std::uint64_t>(w.addresses.size(), w.distinct_floor));
  }
  return w.value[static_cast<std::size_t>(metric)];
}

std::optional<double> BehaviourEngine::violates(const std::string& id, DeviceState& d,
                                                const Rule& rule, double value, bool window_closed,
                                                std::int64_t day) {
  if (!window_closed && !decidable_early(rule)) return std::nullopt;
  auto threshold = threshold_of(id, d, rule, day);
  if (!threshold) return std::nullopt;
  if (!compare(rule.comparison, value, *threshold)) return std::nullopt;
  return threshold;
}

void BehaviourEngine::note_violation(const std::string& id, DeviceState& d, const Profile& p,
                                     const Rule& r, std::int64_t window, double value,
                                     double threshold, std::int64_t at_ms,
                                     std::vector<Transition>& out) {
  auto& st = d.states[state_key(p.name, r.name)];
  st.orphan = false;
  st.last_violation_ms = std::max(st.last_violation_ms, at_ms);
  if (st.violated_window == window) {
    st.worst = std::max(st.worst, value);
    return;  // this window already counted
  }
  st.violated_window = window;
  st.worst = value;
  st.threshold = threshold;
  if (!st.active) {
    st.active = true;
    out.push_back({Transition::Kind::kRaised, id, p.name, r, value, threshold, at_ms});
  }
}

void BehaviourEngine::close_window(const std::string& id, DeviceState& d, Window& w,
                                   std::int64_t at_ms, std::vector<Transition>& out) {
  if (w.index < 0) return;
  const std::int64_t end_ms = (w.index + 1) * static_cast<std::int64_t>(w.duration_s) * 1000;
  const std::int64_t day = (end_ms - 1) / kDayMs;
  // Judge with what was learned before this window, then learn it.
  for (const auto& a : d.rules) {
    const auto& p = profiles_[a.profile];
    const auto& r = p.rules[a.rule];
    if (r.duration_s != w.duration_s) continue;
    const double value = window_value(w, r.metric);
    if (auto threshold = violates(id, d, r, value, true, day)) {
      note_violation(id, d, p, r, w.index, value, *threshold, std::min(at_ms, end_ms), out);
    }
    // The window is over: a violation seen in it is reported once more with its final value
    // (the store's lastViolationAt and value), then the rule waits for the next window.
    auto st = d.states.find(state_key(p.name, r.name));
    if (st != d.states.end() && st->second.active && st->second.violated_window == w.index) {
      out.push_back({Transition::Kind::kContinued, id, p.name, r, st->second.worst,
                     st->second.threshold, st->second.last_violation_ms});
    }
  }
  for (auto& slot : d.baselines) {
    if (slot.duration_s != w.duration_s) continue;
    slot.baseline->add(window_value(w, slot.metric), day);
    slot.dirty = true;
    slot.cached_day = -1;
  }
  const int duration_s = w.duration_s;
  w = Window{};
  w.duration_s = duration_s;
}

std::vector<Transition> BehaviourEngine::observe(const BehaviourSample& s) {
  std::vector<Transition> out;
  auto& d = device(s.device_id);
  if (d.rules.empty()) return out;
  d.last_sample_ms = std::max(d.last_sample_ms, s.to_ms);
  // The interval (from, to]: its last millisecond decides the window.
  const std::int64_t t = s.to_ms - 1;
  // Statistical rules need their baseline slot before the first window closes.
  for (const auto& a : d.rules) {
    const auto& r = profiles_[a.profile].rules[a.rule];
    if (r.percentile) (void)baseline_for(s.device_id, d, r.metric, r.duration_s);
  }
  std::vector<int> durations;
  for (const auto& a : d.rules) {
    const int ds = profiles_[a.profile].rules[a.rule].duration_s;
    if (std::find(durations.begin(), durations.end(), ds) == durations.end()) {
      durations.push_back(ds);
    }
  }
  for (int ds : durations) {
    auto& w = window_for(d, ds);
    const std::int64_t index = t / (static_cast<std::int64_t>(ds) * 1000);
    if (w.index >= 0 && index > w.index) close_window(s.device_id, d, w, s.to_ms, out);
    if (w.index >= 0 && index < w.index) continue;  // older than the open window: too late
    w.index = index;
    using M = Metric;
    auto add = [&](M m, double v) { w.value[static_cast<std::size_t>(m)] += v; };
    add(M::kMessagesSent, static_cast<double>(s.messages_sent));
    add(M::kMessagesReceived, static_cast<double>(s.messages_received));
    add(M::kBytesSent, static_cast<double>(s.bytes_sent));
    add(M::kAuthorizationFailures, static_cast<double>(s.authorization_failures));
    add(M::kConnectionAttempts, static_cast<double>(s.connection_attempts));
    add(M::kDisconnects, static_cast<double>(s.disconnects));
    auto& size = w.value[static_cast<std::size_t>(M::kMessageByteSize)];
    size = std::max(size, static_cast<double>(s.max_message_bytes));
    for (const auto& a : s.addresses) {
      if (w.addresses.size() >= kMaxAddresses) break;
      if (std::find(w.addresses.begin(), w.addresses.end(), a) == w.addresses.end()) {
        w.addresses.push_back(a);
      }
    }
    w.distinct_floor = std::max(w.distinct_floor, s.distinct_addresses);
  }
  // "Above" rules: judged on the running value.
  const std::int64_t day = t / kDayMs;
  for (const auto& a : d.rules) {
    const auto& p = profiles_[a.profile];
    const auto& r = p.rules[a.rule];
    auto& w = window_for(d, r.duration_s);
    const double value = window_value(w, r.metric);
    if (auto threshold = violates(s.device_id, d, r, value, false, day)) {
      note_violation(s.device_id, d, p, r, w.index, value, *threshold, s.to_ms, out);
    }
  }
  return out;
}

std::vector<Transition> BehaviourEngine::tick(std::int64_t now_ms) {
  std::vector<Transition> out;
  for (auto it = devices_.begin(); it != devices_.end();) {
    const std::string& id = it->first;
    auto& d = it->second;
    if (d.rules_generation != generation_ && d.model_known) refresh_rules(id, d);
    for (auto& w : d.windows) {
      if (w.index < 0) continue;
      const std::int64_t end_ms = (w.index + 1) * static_cast<std::int64_t>(w.duration_s) * 1000;
      if (now_ms >= end_ms + kGraceMs) close_window(id, d, w, now_ms, out);
    }
    for (auto st = d.states.begin(); st != d.states.end();) {
      const auto nl = st->first.find('\n');
      const std::string profile = st->first.substr(0, nl);
      const std::string rule_name = st->first.substr(nl + 1);
      const Rule* rule = nullptr;
      for (const auto& p : profiles_) {
        if (p.name != profile) continue;
        for (const auto& r : p.rules) {
          if (r.name == rule_name) rule = &r;
        }
      }
      const bool normal_long_enough =
          rule && now_ms - st->second.last_violation_ms >=
                      static_cast<std::int64_t>(rule->clear_after_s) * 1000;
      if (st->second.active && (st->second.orphan || !rule || normal_long_enough)) {
        Transition t{Transition::Kind::kCleared, id, profile, rule ? *rule : Rule{}, 0, 0, now_ms};
        t.rule.name = rule_name;
        out.push_back(std::move(t));
        st = d.states.erase(st);
      } else if (!st->second.active) {
        st = d.states.erase(st);
      } else {
        ++st;
      }
    }
    // A device with nothing open and nothing unsaved is forgotten; its baselines are in the store.
    const bool open_window = std::any_of(d.windows.begin(), d.windows.end(),
                                         [](const Window& w) { return w.index >= 0; });
    const bool unsaved = std::any_of(d.baselines.begin(), d.baselines.end(),
                                     [](const BaselineSlot& b) { return b.dirty; });
    if (!open_window && !unsaved && d.states.empty()) {
      it = devices_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<BehaviourEngine::DirtyBaseline> BehaviourEngine::take_dirty_baselines() {
  std::vector<DirtyBaseline> out;
  for (auto& [id, d] : devices_) {
    for (auto& slot : d.baselines) {
      if (!slot.dirty) continue;
      out.push_back({id, slot.metric, slot.duration_s, slot.baseline->to_bytes()});
      slot.dirty = false;
    }
  }
  return out;
}

std::size_t BehaviourEngine::active_violations() const {
  std::size_t n = 0;
  for (const auto& [id, d] : devices_) {
    for (const auto& [k, st] : d.states) n += st.active ? 1 : 0;
  }
  return n;
}

}  // namespace sp::detect
