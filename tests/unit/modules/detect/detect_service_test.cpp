// The detect service over the real SQLite store: a report that breaks a rule is recorded as one
// active violation, raises an administrators' event and quarantines; release; a restart keeps the
// active violation and clears it later; what was learned is saved at stop.

#include <gtest/gtest.h>

#include <thread>

#include "../../store/test_util.hpp"
#include "fakes/fixed_clock.hpp"
#include "smartproduct/detect/service.hpp"
#include "store/sqlite/repositories/detect_repository.hpp"
#include "store/sqlite/store.hpp"

namespace sp::detect {
namespace {

using nlohmann::json;

class DetectServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = sqlite::open_store(sqlite::StoreConfig{dir_.path() / "data", 5000, 512});
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    repo_ = sqlite::make_detect_repository(store_->main_ptr());
  }

  std::unique_ptr<DetectService> make() {
    DetectActions a;
    a.quarantine_at_broker = [this](const std::string& id) {
      std::lock_guard l(m_);
      broker_.push_back("quarantine " + id);
    };
    a.release_at_broker = [this](const std::string& id) {
      std::lock_guard l(m_);
      broker_.push_back("release " + id);
    };
    a.notify_admins = [this](const std::string& type, const std::string& message, const json&,
                             const std::string& key) {
      std::lock_guard l(m_);
      events_.push_back(type + " " + key + " " + message);
    };
    return std::make_unique<DetectService>(*repo_, clock_, std::move(a));
  }

  static std::string report(std::int64_t to_ms, const std::string& id, int sent) {
    return json{{"epoch", 1},
                {"seq", 1},
                {"fromMs", to_ms - 1000},
                {"toMs", to_ms},
                {"devices", {{{"id", id}, {"messagesSent", sent}}}}}
        .dump();
  }

  std::vector<store::Violation> all_violations() {
    auto v = repo_->violations({}, 100, std::nullopt);
    EXPECT_TRUE(v);
    return v ? *v : std::vector<store::Violation>{};
  }

  sqlite::test::TempDir dir_;
  std::unique_ptr<sqlite::Store> store_;
  std::unique_ptr<store::DetectRepository> repo_;
  test::FixedClock clock_{1'800'000'000'000};
  std::mutex m_;
  std::vector<std::string> broker_;
  std::vector<std::string> events_;
};

const json kFloodGuard = json::parse(R"({"profiles":[{"name":"guard","rules":[
  {"name":"flood","metric":"messages-sent","comparison":"greater-than","value":50,
   "durationSeconds":10,"action":"quarantine","clearAfterSeconds":10}]}]})");

TEST_F(DetectServiceTest, AViolationIsRecordedAlertedAndQuarantinesOnce) {
  auto service = make();
  ASSERT_TRUE(service->start());
  ASSERT_TRUE(service->replace_profiles(kFloodGuard));
  const std::int64_t t = clock_.now_ms();
  service->on_report(report(t + 1000, "SN1", 60));
  service->on_report(report(t + 2000, "SN1", 60));
  service->on_report(report(t + 1000, "SN2", 10));
  service->on_report("not json");
  service->flush();

  auto v = all_violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].device_id, "SN1");
  EXPECT_EQ(v[0].status, "active");
  EXPECT_EQ(v[0].value, 60);
  EXPECT_EQ(v[0].threshold, 50);
  EXPECT_EQ(v[0].action, "quarantine");
  auto q = repo_->quarantine("SN1");
  ASSERT_TRUE(q && *q);
  EXPECT_EQ((*q)->source, "detect");
  EXPECT_EQ((*q)->violation_id, v[0].id);
  {
    std::lock_guard l(m_);
    EXPECT_EQ(broker_, (std::vector<std::string>{"quarantine SN1"}));
    ASSERT_EQ(events_.size(), 1u);
    EXPECT_EQ(events_[0].rfind("error detect-violation-" + std::to_string(v[0].id), 0), 0u);
  }
  EXPECT_EQ(service->counters().reports.load(), 3u);
  EXPECT_EQ(service->counters().reports_invalid.load(), 1u);
  EXPECT_EQ(service->counters().raised.load(), 1u);

  ASSERT_TRUE(service->release("SN1", "admin-1"));
  auto again = service->release("SN1", "admin-1");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().name, "NotQuarantined");
  std::lock_guard l(m_);
  EXPECT_EQ(broker_.back(), "release SN1");
}

TEST_F(DetectServiceTest, ARestartKeepsTheViolationAndClearsItLater) {
  const std::int64_t t = clock_.now_ms();
  {
    auto service = make();
    ASSERT_TRUE(service->start());
    ASSERT_TRUE(service->replace_profiles(kFloodGuard));
    service->on_report(report(t + 1000, "SN1", 80));
    service->flush();
    service->stop();
  }
  auto service = make();
  ASSERT_TRUE(service->start());
  ASSERT_EQ(all_violations().at(0).status, "active");
  clock_.set(t + 30'000);
  // The worker's next tick (at most a second away) clears it.
  for (int i = 0; i < 40 && all_violations().at(0).status == "active"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  service->flush();
  auto v = all_violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].status, "cleared");
  EXPECT_EQ(v[0].cleared_at_ms, t + 30'000);
  // The quarantine stays until an admin releases it.
  auto q = repo_->quarantine("SN1");
  ASSERT_TRUE(q && *q);
  std::lock_guard l(m_);
  EXPECT_EQ(events_.back().rfind("info detect-SN1-guard-flood-cleared", 0), 0u);
}

TEST_F(DetectServiceTest, BaselinesAreSavedAtStopAndProfilesValidated) {
  auto service = make();
  ASSERT_TRUE(service->start());
  auto bad = service->replace_profiles(json{{"profiles", {{{"name", "x"}}}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().name, "InvalidSecurityProfile");
  ASSERT_TRUE(service->replace_profiles(json::parse(R"({"profiles":[{"name":"s","rules":[
    {"name":"b","metric":"messages-sent","statistic":"p99","durationSeconds":1}]}]})")));
  const std::int64_t t = clock_.now_ms();
  for (int w = 0; w < 5; ++w) service->on_report(report(t + w * 1000 + 500, "SN1", 7));
  service->flush();
  service->stop();
  auto stored = repo_->baseline("SN1", "messages-sent", 1);
  ASSERT_TRUE(stored && *stored);
  auto b = Baseline::from_bytes(**stored);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->samples(t / 86'400'000), 4u);  // four windows closed; the fifth was open
  auto profiles = make()->profiles();
  ASSERT_TRUE(profiles);
  ASSERT_EQ(profiles->size(), 1u);
  EXPECT_EQ((*profiles)[0].rules[0].percentile, 99);
}

}  // namespace
}  // namespace sp::detect
