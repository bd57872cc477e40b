// The shadow service over an in-memory repository: versions, optimistic locking, lost
// compare-and-set races, get/delete and the version after delete + recreate, with a fixed clock.

#include "smartproduct/shadow/service.hpp"

#include <functional>
#include <map>

#include <gtest/gtest.h>

namespace sp::shadow {
namespace {

using nlohmann::json;

class FakeShadows : public store::ShadowRepository {
 public:
  Result<std::optional<store::ShadowRecord>> load(std::string_view id) override {
    ++loads;
    if (fail_next_load) {
      fail_next_load = false;
      return fail(ErrorKind::kUnavailable, "DatabaseBusy", "busy", "secret detail");
    }
    auto it = rows.find(std::string(id));
    if (it == rows.end()) return std::optional<store::ShadowRecord>{};
    return std::optional<store::ShadowRecord>(it->second);
  }
  Result<bool> save(const store::ShadowRecord& record,
                    const std::optional<store::ShadowStamp>& expected) override {
    // Lets a test slip another writer in between this writer's load and its save.
    if (before_save) {
      auto hook = std::move(before_save);
      before_save = nullptr;
      hook();
    }
    auto it = rows.find(record.device_id);
    if (!expected) {
      if (it != rows.end()) return false;
    } else if (it == rows.end() ||
               store::ShadowStamp{it->second.version, it->second.deleted} != *expected) {
      return false;
    }
    rows[record.device_id] = record;
    return true;
  }
  std::map<std::string, store::ShadowRecord> rows;
  std::function<void()> before_save;
  bool fail_next_load = false;
  int loads = 0;
};

class FixedClock final : public Clock {
 public:
  int64_t now_ms() const override { return now; }
  int64_t now = 1700000000123;
};

class ShadowServiceTest : public ::testing::Test {
 protected:
  FakeShadows repo_;
  FixedClock clock_;
  ShadowService service_{repo_, clock_};
  // Another process writing the same database (its own service, its own locks).
  ShadowService other_process_{repo_, clock_};

  json update_ok(const std::string& payload, const char* device = "SN1") {
    auto r = service_.update(device, payload);
    EXPECT_TRUE(r.has_value()) << payload << " -> " << (r ? "" : r.error().message);
    return r ? json::parse(r->accepted) : json();
  }
};

TEST_F(ShadowServiceTest, FirstUpdateCreatesVersionOneWithSecondsTimestamps) {
  auto r = service_.update("SN1", R"({"state":{"reported":{"t":70}},"clientToken":"c1"})");
  ASSERT_TRUE(r) << r.error().message;
  json accepted = json::parse(r->accepted);
  EXPECT_EQ(accepted["version"], 1);
  EXPECT_EQ(accepted["timestamp"], 1700000000);
  EXPECT_EQ(accepted["metadata"]["reported"]["t"]["timestamp"], 1700000000);
  EXPECT_EQ(accepted["clientToken"], "c1");
  EXPECT_FALSE(r->delta.has_value());
  EXPECT_FALSE(r->previous.has_value());
  EXPECT_FALSE(json::parse(r->documents).contains("previous"));
  EXPECT_EQ(r->current.version, 1);
  EXPECT_EQ(repo_.rows.at("SN1").version, 1);
}

TEST_F(ShadowServiceTest, VersionIncrementsPerAcceptedUpdateAndRejectionsDoNotCount) {
  update_ok(R"({"state":{"reported":{"a":1}}})");
  update_ok(R"({"state":{"reported":{"a":2}}})");
  EXPECT_FALSE(service_.update("SN1", R"({"state":{"reported":3}})"));
  EXPECT_EQ(update_ok(R"({"state":{"desired":{"a":3}}})")["version"], 3);
}

TEST_F(ShadowServiceTest, DeltaAfterDesiredDiffersThenNoneWhenReportedCatchesUp) {
  update_ok(R"({"state":{"reported":{"mode":"OFF","t":70}}})");
  clock_.now += 5000;
  auto r = service_.update("SN1", R"({"state":{"desired":{"mode":"HEAT"}},"clientToken":"cmd"})");
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->delta.has_value());
  EXPECT_EQ(json::parse(*r->delta), json::parse(R"({"version":2,"timestamp":1700000005,
      "state":{"mode":"HEAT"},"metadata":{"mode":{"timestamp":1700000005}},
      "clientToken":"cmd"})"));
  json docs = json::parse(r->documents);
  EXPECT_EQ(docs["previous"]["version"], 1);
  EXPECT_EQ(docs["current"]["version"], 2);
  auto caught_up = service_.update("SN1", R"({"state":{"reported":{"mode":"HEAT"}}})");
  ASSERT_TRUE(caught_up);
  EXPECT_FALSE(caught_up->delta.has_value());
}

TEST_F(ShadowServiceTest, OptimisticLocking) {
  update_ok(R"({"state":{"reported":{"a":1}}})");
  auto stale =
      service_.update("SN1", R"({"state":{"desired":{"a":2}},"version":0,"clientToken":"x"})");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, 409);
  EXPECT_EQ(stale.error().message, "Version conflict");
  EXPECT_EQ(stale.error().client_token, "x");
  EXPECT_EQ(repo_.rows.at("SN1").version, 1);
  EXPECT_EQ(update_ok(R"({"state":{"desired":{"a":2}},"version":1})")["version"], 2);
}

TEST_F(ShadowServiceTest, LosingTheRaceReappliesOnTopOfTheWinner) {
  update_ok(R"({"state":{"reported":{"a":1}}})");
  repo_.before_save = [this] {
    auto other = other_process_.update("SN1", R"({"state":{"reported":{"b":2}}})");
    ASSERT_TRUE(other);
  };
  auto r = service_.update("SN1", R"({"state":{"reported":{"c":3}}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->current.version, 3);
  EXPECT_EQ(r->current.reported, json::parse(R"({"a":1,"b":2,"c":3})"));
  EXPECT_EQ(r->previous->version, 2);
}

TEST_F(ShadowServiceTest, LosingTheRaceWithAVersionIsAConflict) {
  update_ok(R"({"state":{"reported":{"a":1}}})");
  repo_.before_save = [this] {
    ASSERT_TRUE(other_process_.update("SN1", R"({"state":{"reported":{"b":2}}})"));
  };
  auto r = service_.update("SN1", R"({"state":{"reported":{"c":3}},"version":1})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 409);
  EXPECT_FALSE(repo_.rows.at("SN1").state["reported"].contains("c"));
}

TEST_F(ShadowServiceTest, TwoCreatorsRaceForANewShadow) {
  repo_.before_save = [this] {
    ASSERT_TRUE(other_process_.update("SN1", R"({"state":{"reported":{"b":2}}})"));
  };
  auto r = service_.update("SN1", R"({"state":{"reported":{"c":3}}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->current.version, 2);
  EXPECT_EQ(r->current.reported, json::parse(R"({"b":2,"c":3})"));
}

TEST_F(ShadowServiceTest, GetReturnsTheFullDocumentOr404) {
  auto missing = service_.get("SN9", R"({"clientToken":"g1"})");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, 404);
  EXPECT_EQ(missing.error().message, "No shadow exists with name: 'SN9'");
  EXPECT_EQ(missing.error().client_token, "g1");

  update_ok(R"({"state":{"reported":{"a":1},"desired":{"a":2}}})");
  clock_.now += 60000;
  auto got = service_.get("SN1");
  ASSERT_TRUE(got) << got.error().message;
  json doc = json::parse(*got);
  EXPECT_EQ(doc["state"]["desired"]["a"], 2);
  EXPECT_EQ(doc["state"]["reported"]["a"], 1);
  EXPECT_EQ(doc["state"]["delta"]["a"], 2);
  EXPECT_EQ(doc["metadata"]["desired"]["a"]["timestamp"], 1700000000);
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["timestamp"], 1700000060);
  EXPECT_FALSE(doc.contains("clientToken"));
}

TEST_F(ShadowServiceTest, DeleteThenRecreateContinuesTheVersionWithin48Hours) {
  update_ok(R"({"state":{"reported":{"a":1}}})");
  update_ok(R"({"state":{"reported":{"a":2}}})");
  auto del = service_.remove("SN1", R"({"clientToken":"d"})");
  ASSERT_TRUE(del) << del.error().message;
  EXPECT_EQ(json::parse(del->accepted),
            json::parse(R"({"version":2,"timestamp":1700000000,"clientToken":"d"})"));
  EXPECT_EQ(service_.get("SN1").error().code, 404);
  auto find = service_.find("SN1");
  ASSERT_TRUE(find);
  EXPECT_FALSE(find->has_value());
  EXPECT_EQ(service_.remove("SN1").error().code, 404);

  // A stale versioned request made before the delete conflicts with the fresh shadow's base.
  EXPECT_EQ(service_.update("SN1", R"({"state":{"reported":{"a":3}},"version":1})").error().code,
            409);
  auto again = service_.update("SN1", R"({"state":{"reported":{"b":1}}})");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->current.version, 3);
  EXPECT_EQ(again->current.reported, json::parse(R"({"b":1})"));
  EXPECT_FALSE(again->previous.has_value());
}

TEST_F(ShadowServiceTest, RecreatedAfter48HoursStartsOver) {
  update_ok(R"({"state":{"reported":{"a":1}}})");
  update_ok(R"({"state":{"reported":{"a":2}}})");
  ASSERT_TRUE(service_.remove("SN1"));
  clock_.now += (48 * 3600 + 1) * 1000LL;
  EXPECT_EQ(update_ok(R"({"state":{"reported":{"a":1}}})")["version"], 1);
}

TEST_F(ShadowServiceTest, OwnerMayOnlyWriteDesired) {
  auto r = service_.update_as_owner("SN1", R"({"state":{"reported":{"a":1}}})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 400);
  EXPECT_EQ(r.error().message, "State contains an invalid node");
  EXPECT_TRUE(repo_.rows.empty());
  auto ok = service_.update_as_owner("SN1", R"({"state":{"desired":{"a":1}}})");
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->delta.has_value());
}

TEST_F(ShadowServiceTest, UpdateDesiredCreatesAndMergesAndChecksLimits) {
  auto r = service_.update_desired("SN1", json{{"targetTemperature", 72}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->current.desired, json::parse(R"({"targetTemperature":72})"));
  auto r2 = service_.update_desired("SN1", json{{"powerStatus", "HEAT"}}, 1);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->current.desired, json::parse(R"({"targetTemperature":72,"powerStatus":"HEAT"})"));
  EXPECT_EQ(service_.update_desired("SN1", json{{"x", 1}}, 1).error().code, 409);
  EXPECT_EQ(service_.update_desired("SN1", json::array()).error().message,
            "Desired node must be an object");
  EXPECT_EQ(service_.update_desired("SN1", json{{"big", std::string(9000, 'x')}}).error().code,
            413);
}

TEST_F(ShadowServiceTest, StorageFailureIs500WithoutLeakingTheDetail) {
  repo_.fail_next_load = true;
  auto r = service_.update("SN1", R"({"state":{"reported":{"a":1}},"clientToken":"c"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 500);
  EXPECT_EQ(r.error().message, "Internal service failure");
  EXPECT_EQ(r.error().client_token, "c");
  EXPECT_EQ(r.error().to_json(1).dump().find("secret"), std::string::npos);
  EXPECT_NE(r.error().detail.find("secret detail"), std::string::npos);
}

TEST_F(ShadowServiceTest, DevicesAreIndependent) {
  update_ok(R"({"state":{"reported":{"a":1}}})", "SN1");
  EXPECT_EQ(update_ok(R"({"state":{"reported":{"a":1}}})", "SN2")["version"], 1);
}

}  // namespace
}  // namespace sp::shadow
