// The settings service: validation of per-user settings and owner/admin authorisation.

#include <map>

#include <gtest/gtest.h>

#include "fakes/fixed_clock.hpp"
#include "smartproduct/api/openapi.hpp"
#include "smartproduct/settings/service.hpp"

namespace sp::settings {
namespace {

using nlohmann::json;

class FakeSettings : public store::SettingsRepository {
 public:
  Result<std::optional<store::SettingRow>> find(std::string_view id) override {
    auto it = rows_.find(std::string(id));
    if (it == rows_.end()) return std::optional<store::SettingRow>{};
    return std::optional<store::SettingRow>(it->second);
  }
  Result<bool> insert_if_absent(std::string_view id, const json& s, std::int64_t now) override {
    if (rows_.count(std::string(id))) return false;
    rows_[std::string(id)] = store::SettingRow{std::string(id), s, now, now};
    return true;
  }
  Result<bool> insert_user_defaults(std::string_view id, const json& s, std::int64_t now) override {
    return insert_if_absent(id, s, now);
  }
  Result<std::optional<store::SettingRow>> replace(std::string_view id, const json& s,
                                                   std::int64_t now) override {
    auto it = rows_.find(std::string(id));
    if (it == rows_.end()) return std::optional<store::SettingRow>{};
    it->second.setting = s;
    it->second.updated_at_ms = now;
    return std::optional<store::SettingRow>(it->second);
  }
  Result<bool> remove(std::string_view id) override { return rows_.erase(std::string(id)) > 0; }
  std::map<std::string, store::SettingRow> rows_;
};

using test::FixedClock;

TEST(ValidateUserSetting, AcceptsSubsetsAndNormalizes) {
  auto ok = validate_user_setting(
      json{{"alertLevel", {"error", "info", "error"}}, {"sendNotification", true}, {"extra", 1}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (json{{"alertLevel", {"error", "info"}}, {"sendNotification", true}}));
  EXPECT_TRUE(
      validate_user_setting(json{{"alertLevel", json::array()}, {"sendNotification", false}}));
}

TEST(ValidateUserSetting, RefusesWrongShapes) {
  for (const json& bad :
       {json::array(), json{{"alertLevel", {"error"}}}, json{{"sendNotification", true}},
        json{{"alertLevel", {"critical"}}, {"sendNotification", true}},
        json{{"alertLevel", "error"}, {"sendNotification", true}},
        json{{"alertLevel", {1}}, {"sendNotification", true}},
        json{{"alertLevel", {"error"}}, {"sendNotification", "yes"}}}) {
    auto r = validate_user_setting(bad);
    ASSERT_FALSE(r) << bad.dump();
    EXPECT_EQ(r.error().kind, ErrorKind::kUnprocessable);
    EXPECT_EQ(r.error().name, "InvalidSetting");
  }
}

class SettingsServiceTest : public ::testing::Test {
 protected:
  SettingsServiceTest() : service_(repo_, clock_) {
    EXPECT_TRUE(service_.ensure_user_defaults("alice"));
    EXPECT_TRUE(service_.ensure_user_defaults("bob"));
    repo_.rows_["app-config"] = store::SettingRow{"app-config", json{{"idp", "x"}}, 1, 1};
  }
  FakeSettings repo_;
  FixedClock clock_{1700000000123};
  SettingsService service_;
};

TEST_F(SettingsServiceTest, OwnerReadsAndWritesOwnRow) {
  Caller alice{"alice", false};
  auto row = service_.get(alice, "alice");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->setting, default_user_setting());
  auto put =
      service_.put(alice, "alice", json{{"alertLevel", {"info"}}, {"sendNotification", true}});
  ASSERT_TRUE(put);
  EXPECT_EQ(put->setting["sendNotification"], true);
  EXPECT_EQ(put->updated_at_ms, 1700000000123);
  EXPECT_EQ(to_json(*put)["updatedAt"], "2023-11-14T22:13:20.123Z");
}

TEST_F(SettingsServiceTest, OthersRowsAreForbiddenEvenWhenAbsent) {
  Caller alice{"alice", false};
  for (const char* id : {"bob", "app-config", "nobody"}) {
    auto g = service_.get(alice, id);
    ASSERT_FALSE(g) << id;
    EXPECT_EQ(g.error().kind, ErrorKind::kForbidden) << id;
    auto p = service_.put(alice, id, default_user_setting());
    ASSERT_FALSE(p) << id;
    EXPECT_EQ(p.error().kind, ErrorKind::kForbidden) << id;
  }
  EXPECT_EQ(repo_.rows_["bob"].setting, default_user_setting());
}

TEST_F(SettingsServiceTest, AdminsReachEveryRowAnd404ForMissing) {
  Caller admin{"root", true};
  ASSERT_TRUE(service_.get(admin, "bob"));
  auto app = service_.put(admin, "app-config", json{{"anything", {1, 2}}});
  ASSERT_TRUE(app) << "app-config takes any object";
  auto invalid =
      service_.put(admin, "bob", json{{"alertLevel", {"nope"}}, {"sendNotification", true}});
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().kind, ErrorKind::kUnprocessable);
  auto missing = service_.get(admin, "nobody");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(missing.error().name, "MissingSetting");
  auto put_missing = service_.put(admin, "nobody", default_user_setting());
  ASSERT_FALSE(put_missing);
  EXPECT_EQ(put_missing.error().kind, ErrorKind::kNotFound);
}

TEST(OpenApiDocument, IsValidJsonDescribingTheSettingsRoute) {
  const auto doc = json::parse(api::openapi_document(), nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_TRUE(doc["paths"].contains("/api/admin/settings/config/{settingId}"));
  EXPECT_TRUE(doc["paths"].contains("/api/auth/login"));
}

}  // namespace
}  // namespace sp::settings
