// The detection engine on hand-made samples: when a rule raises (early for "above" rules, at the
// window's end for "below" ones), once per violation, how it continues and clears, which profiles
// apply to which model, what a statistical rule learns, and what it forgets.

#include <gtest/gtest.h>

#include <map>

#include "smartproduct/detect/engine.hpp"

namespace sp::detect {
namespace {

using Kind = Transition::Kind;
constexpr std::int64_t kT0 = 1'800'000'000'000;  // a multiple of every window length used here

Rule static_rule(std::string name, Metric m, Comparison c, double v, int duration_s, int clear_s) {
  Rule r;
  r.name = std::move(name);
  r.metric = m;
  r.comparison = c;
  r.value = v;
  r.duration_s = duration_s;
  r.clear_after_s = clear_s;
  return r;
}

BehaviourSample sample(const std::string& id, std::int64_t to_ms, std::uint64_t sent) {
  BehaviourSample s;
  s.device_id = id;
  s.to_ms = to_ms;
  s.messages_sent = sent;
  return s;
}

class EngineTest : public ::testing::Test {
 protected:
  BehaviourEngine engine_{[this](const std::string& id) -> std::optional<std::string> {
                            ++model_lookups_;
                            auto it = models_.find(id);
                            if (it == models_.end()) return std::nullopt;
                            return it->second;
                          },
                          [](const std::string&, Metric, int) { return std::nullopt; }};
  std::map<std::string, std::string> models_;
  int model_lookups_ = 0;

  void rules(std::vector<Rule> rs, std::optional<std::string> model = std::nullopt) {
    engine_.set_profiles({Profile{"p", std::move(model), std::move(rs)}});
  }
};

TEST_F(EngineTest, AStaticCeilingRaisesAsSoonAsItIsCrossedOncePerViolation) {
  rules({static_rule("flood", Metric::kMessagesSent, Comparison::kGreaterThan, 50, 10, 20)});
  EXPECT_TRUE(engine_.observe(sample("SN1", kT0 + 1000, 30)).empty());
  auto t = engine_.observe(sample("SN1", kT0 + 2000, 30));  // 60 > 50 before the window ends
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kRaised);
  EXPECT_EQ(t[0].device_id, "SN1");
  EXPECT_EQ(t[0].profile, "p");
  EXPECT_EQ(t[0].rule.name, "flood");
  EXPECT_EQ(t[0].value, 60);
  EXPECT_EQ(t[0].threshold, 50);
  EXPECT_TRUE(engine_.observe(sample("SN1", kT0 + 3000, 40)).empty());  // same violation
  // The window closes: its final value continues the violation.
  t = engine_.tick(kT0 + 10'000 + BehaviourEngine::kGraceMs);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kContinued);
  EXPECT_EQ(t[0].value, 100);
  // The next window is normal; 20 s after the violating window ended it clears.
  EXPECT_TRUE(engine_.observe(sample("SN1", kT0 + 12'000, 5)).empty());
  EXPECT_TRUE(engine_.tick(kT0 + 29'000).empty());
  t = engine_.tick(kT0 + 30'000);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kCleared);
  EXPECT_EQ(engine_.active_violations(), 0u);
  // Another device is judged on its own.
  EXPECT_TRUE(engine_.observe(sample("SN2", kT0 + 24'000, 50)).empty());  // not > 50
}

TEST_F(EngineTest, AFloorIsJudgedWhenTheWindowCloses) {
  rules({static_rule("quiet", Metric::kMessagesSent, Comparison::kLessThan, 10, 10, 10)});
  EXPECT_TRUE(engine_.observe(sample("SN1", kT0 + 1000, 3)).empty());
  EXPECT_TRUE(engine_.tick(kT0 + 9000).empty());
  auto t = engine_.tick(kT0 + 10'000 + BehaviourEngine::kGraceMs);
  ASSERT_EQ(t.size(), 2u);  // raised, and that window's value
  EXPECT_EQ(t[0].kind, Kind::kRaised);
  EXPECT_EQ(t[0].value, 3);
  EXPECT_EQ(t[1].kind, Kind::kContinued);
  // A sample of the next window closes the old one at once (no need to wait for the tick).
  engine_.observe(sample("SN1", kT0 + 11'000, 20));
  t = engine_.tick(kT0 + 20'000 + BehaviourEngine::kGraceMs);
  EXPECT_TRUE(std::none_of(t.begin(), t.end(), [](auto& x) { return x.kind == Kind::kRaised; }));
}

TEST_F(EngineTest, ModelProfilesApplyOnlyToTheirModel) {
  models_["TH1"] = "thermo";
  models_["LK1"] = "lock";
  rules({static_rule("r", Metric::kMessagesSent, Comparison::kGreaterThan, 5, 10, 10)}, "thermo");
  EXPECT_EQ(engine_.observe(sample("TH1", kT0 + 1000, 6)).size(), 1u);
  EXPECT_TRUE(engine_.observe(sample("LK1", kT0 + 1000, 600)).empty());
  EXPECT_TRUE(engine_.observe(sample("UNREG", kT0 + 1000, 600)).empty());
  const int lookups = model_lookups_;
  engine_.observe(sample("TH1", kT0 + 2000, 1));
  EXPECT_EQ(model_lookups_, lookups);  // asked once
  // Re-registered as another model.
  models_["LK1"] = "thermo";
  engine_.forget_model("LK1");
  EXPECT_EQ(engine_.observe(sample("LK1", kT0 + 3000, 600)).size(), 1u);
}

TEST_F(EngineTest, OtherMetricsSizeAndDistinctAddresses) {
  rules(
      {static_rule("big", Metric::kMessageByteSize, Comparison::kGreaterThan, 1000, 60, 60),
       static_rule("roaming", Metric::kSourceIpAddresses, Comparison::kGreaterThanEquals, 3, 60,
                   60),
       static_rule("denied", Metric::kAuthorizationFailures, Comparison::kGreaterThan, 0, 60, 60)});
  BehaviourSample s = sample("SN1", kT0 + 1000, 1);
  s.max_message_bytes = 900;
  s.addresses = {"10.0.0.1", "10.0.0.2"};
  EXPECT_TRUE(engine_.observe(s).empty());
  s.to_ms += 1000;
  s.max_message_bytes = 500;  // the window's largest is what counts, not a sum
  s.addresses = {"10.0.0.2"};
  EXPECT_TRUE(engine_.observe(s).empty());
  s.to_ms += 1000;
  s.addresses = {"10.0.0.3"};
  s.max_message_bytes = 1001;
  s.authorization_failures = 1;
  auto t = engine_.observe(s);
  std::set<std::string> raised;
  for (const auto& x : t) raised.insert(x.rule.name);
  EXPECT_EQ(raised, (std::set<std::string>{"big", "roaming", "denied"}));
}

TEST_F(EngineTest, AStatisticalRuleLearnsTheDeviceThenFiresOnABurst) {
  Rule r;
  r.name = "burst";
  r.metric = Metric::kMessagesSent;
  r.percentile = 99;
  r.min_samples = 10;
  r.duration_s = 10;
  r.clear_after_s = 10;
  rules({r});
  std::int64_t t = kT0;
  // While learning, even a burst is not judged.
  for (int w = 0; w < 10; ++w, t += 10'000) {
    EXPECT_TRUE(engine_.observe(sample("SN1", t + 1000, w == 3 ? 500 : 10)).empty()) << w;
  }
  engine_.tick(t + BehaviourEngine::kGraceMs);
  // Learned 10 windows (one of them 500: the p99 is that one).
  EXPECT_TRUE(engine_.observe(sample("SN1", t + 1000, 400)).empty());
  engine_.tick(t + 10'000 + BehaviourEngine::kGraceMs);
  t += 10'000;
  for (int w = 0; w < 200; ++w, t += 10'000) {
    EXPECT_TRUE(engine_.observe(sample("SN1", t + 1000, 10)).empty());
  }
  // Now the p99 is 10 (two big windows in 212): ten times that fires, early.
  auto out = engine_.observe(sample("SN1", t + 1000, 100));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kRaised);
  EXPECT_EQ(out[0].threshold, 10);
  EXPECT_EQ(out[0].value, 100);
  // What it learned is saved once, then only again after more windows.
  auto dirty = engine_.take_dirty_baselines();
  ASSERT_EQ(dirty.size(), 1u);
  EXPECT_EQ(dirty[0].device_id, "SN1");
  EXPECT_EQ(dirty[0].metric, Metric::kMessagesSent);
  EXPECT_EQ(dirty[0].duration_s, 10);
  auto stored = Baseline::from_bytes(dirty[0].bytes);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->samples(t / 86'400'000), 211u);
  EXPECT_TRUE(engine_.take_dirty_baselines().empty());
}

TEST_F(EngineTest, AStoredBaselineIsUsedFromTheFirstSample) {
  Baseline learned;
  for (int i = 0; i < 50; ++i) learned.add(4, kT0 / 86'400'000);
  int loads = 0;
  BehaviourEngine engine([](const std::string&) { return std::nullopt; },
                         [&](const std::string& id, Metric m, int d) -> std::optional<Baseline> {
                           ++loads;
                           if (id == "SN1" && m == Metric::kMessagesSent && d == 10) return learned;
                           return std::nullopt;
                         });
  Rule r;
  r.name = "burst";
  r.percentile = 90;
  r.duration_s = 10;
  engine.set_profiles({Profile{"p", std::nullopt, {r}}});
  EXPECT_EQ(engine.observe(sample("SN1", kT0 + 1000, 40)).size(), 1u);
  EXPECT_TRUE(engine.observe(sample("SN2", kT0 + 1000, 40)).empty());  // nothing learned yet
  EXPECT_EQ(loads, 2);
}

TEST_F(EngineTest, RemovedRulesClearAndIdleDevicesAreForgotten) {
  rules({static_rule("a", Metric::kMessagesSent, Comparison::kGreaterThan, 1, 10, 3600)});
  engine_.observe(sample("SN1", kT0 + 1000, 5));
  engine_.restore_active("SN9", "p", "a", kT0);
  engine_.restore_active("SN8", "gone", "x", kT0);
  EXPECT_EQ(engine_.active_violations(), 3u);
  auto t = engine_.tick(kT0 + 1500);
  ASSERT_EQ(t.size(), 1u);  // the rule of SN8 no longer exists
  EXPECT_EQ(t[0].kind, Kind::kCleared);
  EXPECT_EQ(t[0].device_id, "SN8");
  engine_.set_profiles({});
  t = engine_.tick(kT0 + 2000);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(engine_.active_violations(), 0u);
  // Nothing open, nothing active, nothing unsaved: forgotten.
  engine_.tick(kT0 + 20'000);
  EXPECT_EQ(engine_.tracked_devices(), 0u);
}

}  // namespace
}  // namespace sp::detect
