// Telemetry and event ingest logic with in-memory repositories: validation, counting, dedup keys,
// and the store-failure path that must not acknowledge.

#include <gtest/gtest.h>

#include "smartproduct/core/event_bus.hpp"

#include <map>

#include "fakes/fixed_clock.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/telemetry/service.hpp"

namespace {

using sp::test::FixedClock;

// The server receives every message a second after the device timestamp the tests use.
constexpr std::int64_t kReceivedAtMs = 1795819081000;

class FakeTelemetryRepository final : public sp::store::TelemetryRepository {
 public:
  bool fail = false;
  std::vector<sp::telemetry::TelemetryRecord> rows;
  void append(sp::telemetry::TelemetryRecord r,
              std::function<void(sp::Result<sp::telemetry::AppendOutcome>)> done) override {
    if (fail) return done(sp::fail(sp::ErrorKind::kUnavailable, "DatabaseError", "disk full"));
    for (auto& x : rows) {
      if (!r.dedup_key.empty() && x.device_id == r.device_id && x.dedup_key == r.dedup_key) {
        return done(sp::telemetry::AppendOutcome::kDuplicate);
      }
    }
    rows.push_back(std::move(r));
    done(sp::telemetry::AppendOutcome::kStored);
  }
  sp::Result<std::vector<sp::telemetry::TelemetryRecord>> recent(const std::string&, int) override {
    return rows;
  }
  sp::Result<int64_t> count(const std::string&) override {
    return static_cast<int64_t>(rows.size());
  }
};

class FakeEventRepository final : public sp::store::EventRepository {
 public:
  std::vector<sp::events::EventRecord> rows;
  void append(sp::events::EventRecord e,
              std::function<void(sp::Result<sp::events::AppendOutcome>)> done) override {
    for (auto& x : rows) {
      if (!e.dedup_key.empty() && x.device_id == e.device_id && x.dedup_key == e.dedup_key) {
        return done(sp::events::AppendOutcome::kDuplicate);
      }
    }
    rows.push_back(std::move(e));
    done(sp::events::AppendOutcome::kStored);
  }
  sp::Result<std::optional<sp::events::EventRecord>> find(const std::string&,
                                                          const std::string&) override {
    return std::nullopt;
  }
  sp::Result<std::vector<sp::events::EventRecord>> recent(const std::string&, int) override {
    return rows;
  }
  sp::Result<int64_t> count(const std::string&) override {
    return static_cast<int64_t>(rows.size());
  }
};

struct Acks {
  int handled = 0, unhandled = 0;
  std::function<void(bool)> cb() {
    return [this](bool ok) { ok ? ++handled : ++unhandled; };
  }
};

TEST(TelemetryIngest, StoresValidMessageWithTopicDeviceAndTimes) {
  FakeTelemetryRepository repo;
  FixedClock clock{kReceivedAtMs};
  sp::EventBus bus;
  sp::telemetry::TelemetryService svc({"smartproduct/telemetry", 1024}, repo, clock, bus);
  Acks acks;
  svc.ingest("smartproduct/telemetry/SN1", R"({"timestamp":1795819080000,"t":70.5})", acks.cb());
  ASSERT_EQ(repo.rows.size(), 1u);
  EXPECT_EQ(repo.rows[0].device_id, "SN1");
  EXPECT_EQ(repo.rows[0].device_ts_ms, 1795819080000);
  EXPECT_EQ(repo.rows[0].received_at_ms, 1795819081000);
  EXPECT_EQ(repo.rows[0].dedup_key.substr(0, 13), "1795819080000");
  EXPECT_EQ(acks.handled, 1);
  EXPECT_EQ(svc.counters().stored, 1u);
}

TEST(TelemetryIngest, RejectsAndCountsBadInputButAcknowledges) {
  FakeTelemetryRepository repo;
  FixedClock clock{kReceivedAtMs};
  sp::EventBus bus;
  sp::telemetry::TelemetryService svc({"smartproduct/telemetry", 64}, repo, clock, bus);
  Acks acks;
  svc.ingest("smartproduct/telemetry/SN1", "not json", acks.cb());
  svc.ingest("smartproduct/telemetry/SN1", "[1,2]", acks.cb());
  svc.ingest("smartproduct/telemetry/SN1", R"({"deviceId":"SN2"})", acks.cb());
  svc.ingest("smartproduct/telemetry/SN1", std::string(65, ' '), acks.cb());
  svc.ingest("smartproduct/telemetry/SN/1", "{}", acks.cb());
  svc.ingest("smartproduct/telemetry/", "{}", acks.cb());
  EXPECT_TRUE(repo.rows.empty());
  EXPECT_EQ(acks.handled, 6);
  auto& c = svc.counters();
  EXPECT_EQ(c.rejected_malformed, 1u);
  EXPECT_EQ(c.rejected_not_object, 1u);
  EXPECT_EQ(c.rejected_foreign_device, 1u);
  EXPECT_EQ(c.rejected_oversize, 1u);
  EXPECT_EQ(c.rejected_bad_topic, 2u);
  EXPECT_EQ(c.received, 6u);
}

TEST(TelemetryIngest, PayloadNamingItsOwnDeviceIsAccepted) {
  FakeTelemetryRepository repo;
  FixedClock clock{kReceivedAtMs};
  sp::EventBus bus;
  sp::telemetry::TelemetryService svc({"smartproduct/telemetry", 1024}, repo, clock, bus);
  Acks acks;
  svc.ingest("smartproduct/telemetry/SN1", R"({"deviceId":"SN1","seq":1})", acks.cb());
  EXPECT_EQ(repo.rows.size(), 1u);
}

TEST(TelemetryIngest, RedeliveryIsADuplicate) {
  FakeTelemetryRepository repo;
  FixedClock clock{kReceivedAtMs};
  sp::EventBus bus;
  sp::telemetry::TelemetryService svc({"smartproduct/telemetry", 1024}, repo, clock, bus);
  Acks acks;
  for (int i = 0; i < 3; ++i) svc.ingest("smartproduct/telemetry/SN1", R"({"seq":5})", acks.cb());
  svc.ingest("smartproduct/telemetry/SN1", R"({"seq":6})", acks.cb());
  EXPECT_EQ(repo.rows.size(), 2u);
  EXPECT_EQ(svc.counters().duplicates, 2u);
  EXPECT_EQ(acks.handled, 4);
}

TEST(TelemetryIngest, StoreFailureIsNotAcknowledged) {
  FakeTelemetryRepository repo;
  repo.fail = true;
  FixedClock clock{kReceivedAtMs};
  sp::EventBus bus;
  sp::telemetry::TelemetryService svc({"smartproduct/telemetry", 1024}, repo, clock, bus);
  Acks acks;
  svc.ingest("smartproduct/telemetry/SN1", R"({"seq":1})", acks.cb());
  EXPECT_EQ(acks.unhandled, 1);
  EXPECT_EQ(svc.counters().store_failures, 1u);
}

TEST(DedupKey, GrowsWithTimeAndSeparatesPayloads) {
  auto key = [](const char* text) {
    return sp::telemetry::dedup_key(nlohmann::json::parse(text), text);
  };
  EXPECT_EQ(key(R"({"x":1})"), "");
  auto a = key(R"({"timestamp":1795819080000,"x":1})");
  auto b = key(R"({"timestamp":1795819080001,"x":1})");
  EXPECT_LT(a, b);
  EXPECT_NE(key(R"({"timestamp":1795819080000,"x":1})"),
            key(R"({"timestamp":1795819080000,"x":2})"));
  EXPECT_LT(key(R"({"seq":9})"), key(R"({"seq":10})"));
  EXPECT_EQ(a.size(), 13u + 16u);
}

TEST(EventIngest, StoresSeedFieldsAndFillsMissingTimestamp) {
  FakeEventRepository repo;
  FixedClock clock{kReceivedAtMs};
  sp::EventBus bus;
  sp::events::EventService svc({"smartproduct/event", 1024}, repo, clock, bus,
                               [](const std::string&) { return std::optional<std::string>("u1"); });
  Acks acks;
  svc.ingest("smartproduct/event/SN1",
             R"({"messageId":"m1","type":"error","message":"hot","details":{"v":1},"sentAt":"x"})",
             acks.cb());
  ASSERT_EQ(repo.rows.size(), 1u);
  auto& e = repo.rows[0];
  EXPECT_EQ(e.type, "error");
  EXPECT_EQ(e.timestamp_ms, 1795819081000);
  EXPECT_FALSE(e.timestamp_from_device);
  EXPECT_EQ(e.user_id, "u1");
  EXPECT_EQ(e.dedup_key, "mid:m1");
  auto j = e.to_json();
  EXPECT_EQ(j["ack"], false);
  EXPECT_EQ(j["suppress"], false);
  EXPECT_EQ(j["deviceId"], "SN1");
  EXPECT_EQ(j["createdAt"], "2026-11-27T22:38:01.000Z");
  EXPECT_EQ(j["details"]["v"], 1);
  // Same messageId again: a redelivery.
  svc.ingest("smartproduct/event/SN1", R"({"messageId":"m1","type":"error"})", acks.cb());
  EXPECT_EQ(repo.rows.size(), 1u);
}

TEST(EventIngest, InvalidTypesAndFieldsAreRejected) {
  FakeEventRepository repo;
  FixedClock clock{kReceivedAtMs};
  sp::EventBus bus;
  sp::events::EventService svc({"smartproduct/event", 1024}, repo, clock, bus);
  Acks acks;
  for (const char* bad : {R"({"type":"party"})", R"({"message":"no type"})",
                          R"({"type":"info","details":[1]})", R"({"type":"info","message":5})"}) {
    svc.ingest("smartproduct/event/SN1", bad, acks.cb());
  }
  EXPECT_TRUE(repo.rows.empty());
  EXPECT_EQ(svc.counters().rejected_invalid, 4u);
  EXPECT_EQ(acks.handled, 4);
}

}  // namespace
