// Validation of POST /api/devices/{id}/commands bodies: the seed's thermostat rules (with its
// faults fixed: value checked against the mode, target kept a number) and commands declared in a
// model's catalog details.

#include "modules/commands/schema.hpp"

#include <gtest/gtest.h>

namespace sp::commands {
namespace {

using nlohmann::json;

json set_temp(json target, json value, json power = "HEAT") {
  return {{"commandDetails", {{"command", "set-temp"}, {"value", value}}},
          {"shadowDetails",
           {{"powerStatus", power}, {"actualTemperature", 70.123}, {"targetTemperature", target}}}};
}

json set_mode(json mode, json power) {
  return {{"commandDetails", {{"command", "set-mode"}, {"value", mode}}},
          {"shadowDetails", {{"powerStatus", power}, {"targetTemperature", 72}}}};
}

const CommandSchema kThermostat{};

void expect_invalid(const CommandSchema& schema, const json& body) {
  auto r = validate_command(schema, body, 3600);
  ASSERT_FALSE(r) << body.dump();
  EXPECT_EQ(r.error().name, "InvalidParameter") << body.dump();
  EXPECT_EQ(r.error().kind, ErrorKind::kUnprocessable);
}

TEST(CommandSchema, SetTempRoundsTheTargetAndKeepsItANumber) {
  auto r = validate_command(kThermostat, set_temp(72.499, 72.499), 3600);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->field, "targetTemperature");
  EXPECT_EQ(r->value, json(72.5));
  EXPECT_EQ(r->details["targetTemperature"], json(72.5));
  EXPECT_EQ(r->details["actualTemperature"], json(70.12));
  EXPECT_EQ(r->details["powerStatus"], "HEAT");
  // .00 becomes an integer, a numeric string a number (the seed accepted "72").
  r = validate_command(kThermostat, set_temp("72.001", 72), 3600);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->value.is_number_integer());
  EXPECT_EQ(r->value, json(72));
  EXPECT_FALSE(r->ttl_s);
}

TEST(CommandSchema, SetModeSetsPowerStatusOnly) {
  auto r = validate_command(kThermostat, set_mode("AC", "AC"), 3600);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->field, "powerStatus");
  EXPECT_EQ(r->value, "AC");
}

TEST(CommandSchema, ThermostatRulesRefuseWithInvalidParameter) {
  expect_invalid(kThermostat, json::array());
  expect_invalid(kThermostat, json::object());
  expect_invalid(kThermostat, {{"commandDetails", {{"command", "set-temp"}, {"value", 72}}}});
  expect_invalid(kThermostat, {{"commandDetails", "x"}, {"shadowDetails", json::object()}});
  json unknown = set_temp(72, 72);
  unknown["commandDetails"]["command"] = "reboot";
  expect_invalid(kThermostat, unknown);
  expect_invalid(kThermostat, set_temp(49.99, 49.99));
  expect_invalid(kThermostat, set_temp(110.01, 110.01));
  expect_invalid(kThermostat, set_temp("hot", "hot"));
  expect_invalid(kThermostat, set_temp("72abc", 72));
  expect_invalid(kThermostat, set_temp(72, 73));     // value must be the target
  expect_invalid(kThermostat, set_temp(72, "abc"));  // and numeric
  expect_invalid(kThermostat, set_temp(72, nullptr));
  expect_invalid(kThermostat, set_temp(72, 72, "COOL"));
  expect_invalid(kThermostat, set_temp(72, 72, nullptr));
  expect_invalid(kThermostat, set_mode("HEAT", "AC"));  // value must be the mode
  expect_invalid(kThermostat, set_mode(1, "AC"));
  json bad_actual = set_temp(72, 72);
  bad_actual["shadowDetails"]["actualTemperature"] = "warm";
  expect_invalid(kThermostat, bad_actual);
  json no_value = set_mode("AC", "AC");
  no_value["commandDetails"].erase("value");
  expect_invalid(kThermostat, no_value);
}

TEST(CommandSchema, TtlSecondsIsBounded) {
  json body = set_mode("OFF", "OFF");
  body["ttlSeconds"] = 30;
  auto r = validate_command(kThermostat, body, 3600);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ttl_s, 30);
  for (json bad : {json(0), json(-1), json(3601), json("30"), json(1.5)}) {
    body["ttlSeconds"] = bad;
    expect_invalid(kThermostat, body);
  }
}

TEST(CommandSchema, DeclaredCommandsReplaceTheThermostat) {
  auto schema = schema_from_details(json::parse(R"({"model": "x", "commands": {
      "set-brightness": {"type": "number", "field": "brightness", "min": 0, "max": 100},
      "set-color": {"type": "enum", "field": "color", "values": ["red", "green"]},
      "say": {"type": "string", "field": "message", "maxLength": 5}}})"));
  ASSERT_TRUE(schema) << schema.error().message;
  EXPECT_FALSE(schema->thermostat);
  auto cmd = [](json name, json value) {
    return json{{"commandDetails", {{"command", name}, {"value", value}}}};
  };
  auto r = validate_command(*schema, cmd("set-brightness", 33.333), 60);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->field, "brightness");
  EXPECT_EQ(r->value, json(33.33));
  EXPECT_EQ(r->details,
            json({{"command", "set-brightness"}, {"value", 33.33}, {"brightness", 33.33}}));
  EXPECT_TRUE(validate_command(*schema, cmd("set-color", "green"), 60));
  EXPECT_TRUE(validate_command(*schema, cmd("say", "hello"), 60));
  expect_invalid(*schema, cmd("set-brightness", 100.5));
  expect_invalid(*schema, cmd("set-brightness", -1));
  expect_invalid(*schema, cmd("set-brightness", "x"));
  expect_invalid(*schema, cmd("set-color", "blue"));
  expect_invalid(*schema, cmd("say", "too long"));
  expect_invalid(*schema, cmd("say", 5));
  expect_invalid(*schema, cmd("set-temp", 72));  // the thermostat's commands are not this model's
}

TEST(CommandSchema, ModelsWithoutADeclarationAreThermostats) {
  for (json details : {json::object(), json(nullptr), json{{"model", "INFINITY 19"}}}) {
    auto s = schema_from_details(details);
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->thermostat);
  }
}

TEST(CommandSchema, InvalidDeclarationsAreReported) {
  for (const char* bad : {
           R"({"commands": []})",
           R"({"commands": {}})",
           R"({"commands": {"a b": {"type": "number", "field": "x"}}})",
           R"({"commands": {"go": {"type": "number"}}})",
           R"({"commands": {"go": {"type": "number", "field": "x y"}}})",
           R"({"commands": {"go": {"type": "bool", "field": "x"}}})",
           R"({"commands": {"go": {"type": "number", "field": "x", "min": "0"}}})",
           R"({"commands": {"go": {"type": "enum", "field": "x", "values": []}}})",
           R"({"commands": {"go": {"type": "enum", "field": "x", "values": [1]}}})",
           R"({"commands": {"go": {"type": "string", "field": "x", "maxLength": 0}}})",
       }) {
    auto s = schema_from_details(json::parse(bad));
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().name, "InvalidCommandSchema") << bad;
  }
}

}  // namespace
}  // namespace sp::commands
