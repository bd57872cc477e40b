// The seed device behaviour of `smartproduct-sim run`: telemetry fields, power modes, shadow and
// commands.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "device_model.hpp"

using namespace sp::sim;
using nlohmann::json;

namespace {

constexpr std::int64_t kNow = 1556739787113;

DeviceModel make_model() {
  int n = 0;
  return DeviceModel("SN-00001", DeviceTopics::for_serial("SN-00001"), 7,
                     [n]() mutable { return "uuid-" + std::to_string(++n); });
}

json parse(const OutMessage& m) { return json::parse(m.payload); }

}  // namespace

TEST(DeviceModel, TopicsFollowTheSeed) {
  auto t = DeviceTopics::for_serial("SN-1", "tele", "ev");
  EXPECT_EQ(t.telemetry, "tele/SN-1");
  EXPECT_EQ(t.event, "ev/SN-1");
  EXPECT_EQ(t.commands, "smartproduct/commands/SN-1");
  EXPECT_EQ(t.command_reply, "smartproduct/commands/SN-1/response");
  EXPECT_EQ(t.shadow_update, "$aws/things/SN-1/shadow/update");
  EXPECT_EQ(t.shadow_delta, "$aws/things/SN-1/shadow/update/delta");
}

TEST(DeviceModel, ThresholdBandsAndMessages) {
  const double target = 71.5;
  EXPECT_FALSE(threshold_event(71.5, target));
  EXPECT_FALSE(threshold_event(76.5, target));  // exactly +5 is still in band
  EXPECT_FALSE(threshold_event(66.5, target));  // exactly -5 too

  auto w_up = threshold_event(76.51, target);
  ASSERT_TRUE(w_up);
  EXPECT_EQ(w_up->type, EventType::kWarning);
  EXPECT_EQ(w_up->message, "Temperature is slightly exceeding upper threshold");
  auto w_up_edge = threshold_event(81.5, target);  // exactly +10 is a warning
  ASSERT_TRUE(w_up_edge);
  EXPECT_EQ(w_up_edge->type, EventType::kWarning);

  auto e_up = threshold_event(81.51, target);
  ASSERT_TRUE(e_up);
  EXPECT_EQ(e_up->type, EventType::kError);
  EXPECT_EQ(e_up->message, "Temperature is exceeding upper threshold");

  auto w_down = threshold_event(66.49, target);
  ASSERT_TRUE(w_down);
  EXPECT_EQ(w_down->type, EventType::kWarning);
  EXPECT_EQ(w_down->message, "Temperature is slightly dropping under the threshold");
  auto w_down_edge = threshold_event(61.5, target);  // exactly -10 is a warning
  ASSERT_TRUE(w_down_edge);
  EXPECT_EQ(w_down_edge->type, EventType::kWarning);

  auto e_down = threshold_event(61.49, target);
  ASSERT_TRUE(e_down);
  EXPECT_EQ(e_down->type, EventType::kError);
  EXPECT_EQ(e_down->message, "Temperature is dropping under the threshold");
}

TEST(DeviceModel, InitialStateAndShadowReport) {
  auto m = make_model();
  auto r = m.shadow_report();
  EXPECT_EQ(r.topic, "$aws/things/SN-00001/shadow/update");
  EXPECT_EQ(parse(r), json::parse(R"({"state":{"reported":{"powerStatus":"OFF",
      "actualTemperature":71.5,"targetTemperature":71.5}}})"));
}

TEST(DeviceModel, TickPublishesSeedTelemetry) {
  auto m = make_model();
  auto out = m.tick(kNow);
  ASSERT_EQ(out.size(), 1U);  // in band: telemetry only
  EXPECT_EQ(out[0].topic, "smartproduct/telemetry/SN-00001");
  auto j = parse(out[0]);
  std::vector<std::string> keys;
  for (auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"actualTemperature", "createdAt", "deviceId", "sentAt",
                                            "targetTemperature", "timestamp"}));
  EXPECT_EQ(j["deviceId"], "SN-00001");
  EXPECT_EQ(j["timestamp"], kNow);
  EXPECT_EQ(j["targetTemperature"], 71.5);
  EXPECT_DOUBLE_EQ(std::abs(j["actualTemperature"].get<double>() - 71.5), 0.5);  // OFF: ±0.5
  EXPECT_EQ(j["createdAt"], j["sentAt"]);
}

TEST(DeviceModel, HeatClimbsIntoWarningThenErrorEveryTick) {
  auto m = make_model();
  m.on_delta(R"({"state":{"powerStatus":"HEAT"}})", kNow);
  // 71.5 + 10 ticks * 0.5 = 76.5: still in band.
  for (int i = 0; i < 10; ++i) ASSERT_EQ(m.tick(kNow).size(), 1U) << "tick " << i;
  auto out = m.tick(kNow + 1);  // 77.0
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[1].topic, "smartproduct/event/SN-00001");
  auto e = parse(out[1]);
  EXPECT_EQ(e["type"], "warning");
  EXPECT_EQ(e["message"], "Temperature is slightly exceeding upper threshold");
  EXPECT_EQ(e["deviceId"], "SN-00001");
  EXPECT_EQ(e["timestamp"], kNow + 1);
  EXPECT_EQ(e["details"]["eventId"], "event_" + std::to_string(kNow + 1));
  EXPECT_EQ(e["details"]["sensorId"], "sensor-id");
  EXPECT_EQ(e["details"]["sensor"], "nice sensor");
  EXPECT_EQ(e["details"]["value"], 77.0);
  EXPECT_TRUE(e["messageId"].get<std::string>().starts_with("uuid-"));
  EXPECT_TRUE(e["sentAt"].is_string());
  // Every tick out of band sends another event; past +10 it is an error.
  for (int i = 0; i < 9; ++i) ASSERT_EQ(m.tick(kNow).size(), 2U);  // up to 81.5
  out = m.tick(kNow);                                              // 82.0
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(parse(out[1])["type"], "error");
  EXPECT_EQ(parse(out[1])["message"], "Temperature is exceeding upper threshold");
  EXPECT_EQ(parse(out[1])["details"]["value"], 82.0);
}

TEST(DeviceModel, AcFallsBelowTheTarget) {
  auto m = make_model();
  m.on_delta(R"({"state":{"powerStatus":"AC"}})", kNow);
  for (int i = 0; i < 10; ++i) m.tick(kNow);  // 66.5
  EXPECT_DOUBLE_EQ(m.temperature().actual(), 66.5);
  auto out = m.tick(kNow);  // 66.0
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(parse(out[1])["message"], "Temperature is slightly dropping under the threshold");
}

TEST(DeviceModel, DeltaAdoptsChangesEmitsInfoAndReportsAtOnce) {
  auto m = make_model();
  auto out = m.on_delta(
      R"({"version":3,"timestamp":1,"state":{"powerStatus":"HEAT","targetTemperature":"75",
          "actualTemperature":10}})",
      kNow);
  ASSERT_EQ(out.size(), 3U);
  auto power = parse(out[0]);
  EXPECT_EQ(out[0].topic, "smartproduct/event/SN-00001");
  EXPECT_EQ(power["type"], "info");
  EXPECT_EQ(power["message"], "Power status is changed by user");
  EXPECT_EQ(power["details"]["value"], "HEAT");
  auto target = parse(out[1]);
  EXPECT_EQ(target["type"], "info");
  EXPECT_EQ(target["message"], "Target temperature is changed by user");
  EXPECT_EQ(target["details"]["value"], 75.0);
  // The new state is reported straight away (seed §20.10); actualTemperature is not adopted.
  EXPECT_EQ(out[2].topic, "$aws/things/SN-00001/shadow/update");
  EXPECT_EQ(parse(out[2]), json::parse(R"({"state":{"reported":{"powerStatus":"HEAT",
      "actualTemperature":71.5,"targetTemperature":75.0}}})"));
  EXPECT_EQ(m.temperature().power(), PowerStatus::kHeat);
  EXPECT_DOUBLE_EQ(m.temperature().target(), 75.0);
}

TEST(DeviceModel, DeltaWithoutChangeDoesNothing) {
  auto m = make_model();
  // Same values (target compared as a float): no event, no report, nothing armed.
  EXPECT_TRUE(
      m.on_delta(R"({"state":{"powerStatus":"OFF","targetTemperature":"71.50"}})", kNow).empty());
  EXPECT_TRUE(m.on_delta(R"({"state":{"actualTemperature":99}})", kNow).empty());
}

TEST(DeviceModel, UnusableDeltaGivesOneDiagnosticEvent) {
  auto m = make_model();
  for (const char* bad : {"not json", R"({"state":5})", R"({"state":{"powerStatus":"FAN"}})",
                          R"({"state":{"targetTemperature":"warm"}})"}) {
    auto out = m.on_delta(bad, kNow);
    ASSERT_EQ(out.size(), 1U) << bad;
    EXPECT_EQ(out[0].topic, "smartproduct/event/SN-00001");
    EXPECT_EQ(parse(out[0])["type"], "diagnostic") << bad;
  }
  EXPECT_EQ(m.temperature().power(), PowerStatus::kOff);
  EXPECT_DOUBLE_EQ(m.temperature().target(), 71.5);
}

TEST(DeviceModel, SetModeCommandIsAppliedReportedAndAnswered) {
  auto m = make_model();
  // The command may overtake its delta: it is applied and answered on its own.
  auto out = m.on_command(R"({"commandId":"c-1","deviceId":"SN-00001","status":"pending",
      "details":{"command":"set-mode","value":"AC","powerStatus":"AC"}})",
                          kNow);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(parse(out[0])["message"], "Power status is changed by user");
  EXPECT_EQ(out[1].topic, "$aws/things/SN-00001/shadow/update");
  EXPECT_EQ(parse(out[1])["state"]["reported"]["powerStatus"], "AC");
  EXPECT_EQ(out[2].topic, "smartproduct/commands/SN-00001/response");
  EXPECT_EQ(parse(out[2]), json::parse(R"({"commandId":"c-1","deviceId":"SN-00001",
      "status":"success","reason":"success"})"));
  EXPECT_EQ(m.temperature().power(), PowerStatus::kAc);
  // Its delta arriving afterwards changes nothing and sends nothing.
  EXPECT_TRUE(m.on_delta(R"({"state":{"powerStatus":"AC"}})", kNow).empty());
}

TEST(DeviceModel, SetTempCommandTakesNumbersAndNumericStrings) {
  auto m = make_model();
  auto out = m.on_command(
      R"({"commandId":"c-2","status":"pending","details":{"command":"set-temp","value":"68.25"}})",
      kNow);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_DOUBLE_EQ(m.temperature().target(), 68.25);
  EXPECT_EQ(parse(out[2])["status"], "success");
  // Same value again (a redelivery): no event, no report, but answered again.
  out = m.on_command(
      R"({"commandId":"c-2","status":"pending","details":{"command":"set-temp","value":68.25}})",
      kNow);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(parse(out[0])["commandId"], "c-2");
  EXPECT_EQ(parse(out[0])["status"], "success");
}

TEST(DeviceModel, CommandItCannotApplyIsAnsweredFailedWithTheReason) {
  auto m = make_model();
  const std::pair<const char*, const char*> cases[] = {
      {R"({"command":"set-temp","value":"warm"})", "set-temp needs a numeric value"},
      {R"({"command":"set-mode","value":"FAN"})", "set-mode needs HEAT, AC or OFF"},
      {R"({"command":"reboot"})", "unknown command \"reboot\""},
      {R"({})", "nothing to apply"},
  };
  for (const auto& [details, reason] : cases) {
    const auto out = m.on_command(
        std::string(R"({"commandId":"c-9","status":"pending","details":)") + details + "}", kNow);
    ASSERT_EQ(out.size(), 1U) << details;
    EXPECT_EQ(parse(out[0]), json({{"commandId", "c-9"},
                                   {"deviceId", "SN-00001"},
                                   {"status", "failed"},
                                   {"reason", reason}}))
        << details;
  }
  EXPECT_EQ(m.temperature().power(), PowerStatus::kOff);
  EXPECT_DOUBLE_EQ(m.temperature().target(), 71.5);
}

TEST(DeviceModel, SeedShapedCommandIsApplied) {
  auto m = make_model();
  auto out = m.on_command(R"({"commandId":"c-3","status":"pending",
      "details":{"powerStatus":"HEAT","actualTemperature":60,"targetTemperature":"80"}})",
                          kNow);
  ASSERT_EQ(out.size(), 4U);  // two info events, the report, the reply
  EXPECT_EQ(parse(out[3])["status"], "success");
  EXPECT_EQ(m.temperature().power(), PowerStatus::kHeat);
  EXPECT_DOUBLE_EQ(m.temperature().target(), 80.0);
  EXPECT_DOUBLE_EQ(m.temperature().actual(), 71.5);  // never adopted
}

TEST(DeviceModel, RepliesResultsAndEchoesAreIgnored) {
  auto m = make_model();
  EXPECT_TRUE(
      m.on_command(R"({"commandId":"c-0","status":"success","reason":"success"})", kNow).empty());
  EXPECT_TRUE(
      m.on_command(R"({"status":"pending","details":{"command":"set-mode","value":"AC"}})", kNow)
          .empty());
  EXPECT_TRUE(m.on_command("garbage", kNow).empty());
  EXPECT_EQ(m.temperature().power(), PowerStatus::kOff);
}

TEST(DeviceModel, LegacyRepliesGoToTheCommandTopicAndTheirEchoIsIgnored) {
  auto topics = DeviceTopics::for_serial("SN-00001");
  topics.command_reply = topics.commands;
  DeviceModel m("SN-00001", topics, 7, [] { return std::string("u"); });
  auto out = m.on_command(
      R"({"commandId":"c-4","status":"pending","details":{"command":"set-mode","value":"OFF"}})",
      kNow);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].topic, "smartproduct/commands/SN-00001");
  // The broker echoes the reply back on the same topic: not a command.
  EXPECT_TRUE(m.on_command(out[0].payload, kNow).empty());
}

TEST(DeviceModel, ParsePowerStatus) {
  EXPECT_EQ(parse_power_status("HEAT"), PowerStatus::kHeat);
  EXPECT_EQ(parse_power_status("AC"), PowerStatus::kAc);
  EXPECT_EQ(parse_power_status("OFF"), PowerStatus::kOff);
  EXPECT_FALSE(parse_power_status("heat"));
  EXPECT_FALSE(parse_power_status(""));
}
