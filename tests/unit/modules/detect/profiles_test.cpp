// The security profile document and the plugin's behaviour report: what is accepted, the defaults,
// and an error that names the field for everything refused.

#include <gtest/gtest.h>

#include "smartproduct/detect/profiles.hpp"

namespace sp::detect {
namespace {

using nlohmann::json;

std::string error_of(const json& doc) {
  auto r = parse_profiles(doc);
  EXPECT_FALSE(r) << doc.dump();
  if (r) return "";
  EXPECT_EQ(r.error().name, "InvalidSecurityProfile");
  return r.error().message;
}

json one_rule(json rule) { return json{{"profiles", {{{"name", "p"}, {"rules", {rule}}}}}}; }

TEST(Profiles, StaticAndStatisticalRulesWithDefaults) {
  auto r = parse_profiles(json::parse(R"({"profiles":[
    {"name":"all","rules":[{"name":"flood","metric":"messages-sent","comparison":"greater-than","value":600}]},
    {"name":"th","model":"TH-1","rules":[{"name":"b","metric":"bytes-sent","statistic":"p90",
      "durationSeconds":60,"minSamples":5,"action":"quarantine","clearAfterSeconds":60}]}]})"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const Rule& flood = (*r)[0].rules[0];
  EXPECT_FALSE((*r)[0].model);
  EXPECT_EQ(flood.metric, Metric::kMessagesSent);
  EXPECT_FALSE(flood.percentile);
  EXPECT_EQ(flood.value, 600);
  EXPECT_EQ(flood.duration_s, 300);
  EXPECT_EQ(flood.clear_after_s, 600);
  EXPECT_EQ(flood.action, Action::kNotify);
  const Rule& b = (*r)[1].rules[0];
  EXPECT_EQ((*r)[1].model, "TH-1");
  EXPECT_EQ(b.percentile, 90);
  EXPECT_EQ(b.min_samples, 5);
  EXPECT_EQ(b.action, Action::kQuarantine);
  // What is stored and answered parses back to the same rules.
  auto again = parse_profiles(json{{"profiles", {profile_json((*r)[0]), profile_json((*r)[1])}}});
  ASSERT_TRUE(again);
  EXPECT_EQ(rules_json((*again)[1].rules), rules_json((*r)[1].rules));
}

TEST(Profiles, ErrorsNameTheField) {
  EXPECT_EQ(error_of(json::array()).rfind("The body", 0), 0u);
  EXPECT_EQ(error_of(json{{"profiles", 3}}).rfind("profiles must be an array", 0), 0u);
  EXPECT_EQ(error_of(json{{"profiles", {{{"name", ""}, {"rules", json::array()}}}}})
                .rfind("profiles[0].name", 0),
            0u);
  EXPECT_EQ(error_of(json{{"profiles",
                           {{{"name", "a"}, {"rules", json::array()}},
                            {{"name", "a"}, {"rules", json::array()}}}}})
                .rfind("profiles[1].name", 0),
            0u);
  EXPECT_EQ(error_of(json{{"profiles", {{{"name", "a"}, {"model", ""}, {"rules", json::array()}}}}})
                .rfind("profiles[0].model", 0),
            0u);
  EXPECT_EQ(error_of(json{{"profiles", {{{"name", "a"}}}}}).rfind("profiles[0].rules", 0), 0u);

  const json base = {
      {"name", "r"}, {"metric", "disconnects"}, {"comparison", "less-than"}, {"value", 1}};
  auto with = [&](const char* key, json value) {
    json r = base;
    if (value.is_null()) {
      r.erase(key);
    } else {
      r[key] = value;
    }
    return error_of(one_rule(r));
  };
  EXPECT_EQ(with("name", "no spaces").rfind("profiles[0].rules[0].name", 0), 0u);
  EXPECT_EQ(with("metric", "cpu").rfind("profiles[0].rules[0].metric", 0), 0u);
  EXPECT_EQ(with("comparison", "around").rfind("profiles[0].rules[0].comparison", 0), 0u);
  EXPECT_EQ(with("value", -1).rfind("profiles[0].rules[0].value", 0), 0u);
  EXPECT_EQ(with("value", "5").rfind("profiles[0].rules[0].value", 0), 0u);
  EXPECT_EQ(with("value", nullptr).rfind("profiles[0].rules[0].value", 0), 0u);
  EXPECT_EQ(with("durationSeconds", 0).rfind("profiles[0].rules[0].durationSeconds", 0), 0u);
  EXPECT_EQ(with("durationSeconds", 86401).rfind("profiles[0].rules[0].durationSeconds", 0), 0u);
  EXPECT_EQ(with("durationSeconds", 1.5).rfind("profiles[0].rules[0].durationSeconds", 0), 0u);
  EXPECT_EQ(with("action", "explode").rfind("profiles[0].rules[0].action", 0), 0u);
  EXPECT_EQ(with("clearAfterSeconds", 10).rfind("profiles[0].rules[0].clearAfterSeconds", 0), 0u);

  json stat = {{"name", "r"}, {"metric", "disconnects"}, {"statistic", "p50"}};
  EXPECT_EQ(error_of(one_rule(stat)).rfind("profiles[0].rules[0].statistic", 0), 0u);
  stat["statistic"] = "p99";
  stat["value"] = 3;
  EXPECT_NE(error_of(one_rule(stat)).find("both statistic and value"), std::string::npos);
  stat.erase("value");
  stat["comparison"] = "less-than";
  EXPECT_EQ(error_of(one_rule(stat)).rfind("profiles[0].rules[0].comparison", 0), 0u);
  stat.erase("comparison");
  stat["minSamples"] = 0;
  EXPECT_EQ(error_of(one_rule(stat)).rfind("profiles[0].rules[0].minSamples", 0), 0u);

  json twice = {{"profiles", {{{"name", "p"}, {"rules", {base, base}}}}}};
  EXPECT_EQ(error_of(twice).rfind("profiles[0].rules[1].name", 0), 0u);
  json many = {{"profiles", json::array()}};
  for (int i = 0; i <= static_cast<int>(kMaxProfiles); ++i) {
    many["profiles"].push_back({{"name", "p" + std::to_string(i)}, {"rules", json::array()}});
  }
  EXPECT_EQ(error_of(many).rfind("profiles may hold at most", 0), 0u);
}

TEST(BehaviourReport, ParsesCountersAndSkipsBadEntries) {
  auto r = parse_report(R"({"epoch":7,"seq":3,"fromMs":1000,"toMs":2000,"part":0,"parts":1,
    "devices":[{"id":"SN1","messagesSent":12,"bytesSent":1234,"maxMessageBytes":120,
      "messagesReceived":3,"authorizationFailures":1,"quarantineRefusals":2,
      "connectionAttempts":1,"disconnects":0,"addresses":["127.0.0.1","::1"],"distinctAddresses":2},
      {"id":"bad/id","messagesSent":1},{"id":"SN2","messagesSent":-1},{"id":"SN3"},5]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->epoch, 7);
  EXPECT_EQ(r->seq, 3u);
  EXPECT_EQ(r->to_ms, 2000);
  ASSERT_EQ(r->samples.size(), 2u);
  const auto& s = r->samples[0];
  EXPECT_EQ(s.device_id, "SN1");
  EXPECT_EQ(s.to_ms, 2000);
  EXPECT_EQ(s.messages_sent, 12u);
  EXPECT_EQ(s.bytes_sent, 1234u);
  EXPECT_EQ(s.max_message_bytes, 120u);
  EXPECT_EQ(s.messages_received, 3u);
  EXPECT_EQ(s.authorization_failures, 1u);
  EXPECT_EQ(s.connection_attempts, 1u);
  EXPECT_EQ(s.addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(s.distinct_addresses, 2u);
  EXPECT_EQ(r->samples[1].device_id, "SN3");  // all counters absent: zero
  EXPECT_EQ(r->skipped, 3u);
}

TEST(BehaviourReport, RefusesWhatIsNotAReport) {
  EXPECT_FALSE(parse_report(""));
  EXPECT_FALSE(parse_report("[]"));
  EXPECT_FALSE(parse_report(R"({"devices":[]})"));           // no toMs
  EXPECT_FALSE(parse_report(R"({"toMs":0,"devices":[]})"));  // not a time
  EXPECT_FALSE(parse_report(R"({"toMs":"5","devices":[]})"));
  EXPECT_FALSE(parse_report(R"({"toMs":5,"devices":{}})"));
  EXPECT_FALSE(parse_report(R"({"toMs":18446744073709551615,"devices":[]})"));
  EXPECT_TRUE(parse_report(R"({"toMs":5,"devices":[]})"));
}

}  // namespace
}  // namespace sp::detect
