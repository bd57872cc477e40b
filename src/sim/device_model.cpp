#include "device_model.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "payload.hpp"

namespace sp::sim {

using nlohmann::json;

namespace {
// The seed simulator sends these sensor fields unchanged in every telemetry message.
constexpr std::string_view kSensorId = "sensor-id";
constexpr std::string_view kSensor = "nice sensor";

constexpr std::string_view kPowerChanged = "Power status is changed by user";
constexpr std::string_view kTargetChanged = "Target temperature is changed by user";

// JavaScript's parseFloat after the seed's String(): a number, or a string that is one.
std::optional<double> as_float(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  double out = 0;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  while (begin < end && *begin == ' ') ++begin;
  const auto [p, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc() || p == begin || !std::isfinite(out)) return std::nullopt;
  return out;
}

}  // namespace

DeviceTopics DeviceTopics::for_serial(std::string_view serial, std::string_view telemetry_prefix,
                                      std::string_view event_prefix) {
  const std::string s(serial);
  DeviceTopics t;
  t.telemetry = std::string(telemetry_prefix) + "/" + s;
  t.event = std::string(event_prefix) + "/" + s;
  t.commands = "smartproduct/commands/" + s;
  t.command_reply = t.commands + "/response";
  t.shadow_update = "$aws/things/" + s + "/shadow/update";
  t.shadow_delta = t.shadow_update + "/delta";
  return t;
}

std::string_view to_string(EventType type) {
  switch (type) {
    case EventType::kError:
      return "error";
    case EventType::kWarning:
      return "warning";
    case EventType::kInfo:
      return "info";
    case EventType::kDiagnostic:
      break;
  }
  return "diagnostic";
}

std::optional<ThresholdEvent> threshold_event(double actual, double target) {
  if (actual > target + 10)
    return ThresholdEvent{EventType::kError, "Temperature is exceeding upper threshold"};
  if (actual > target + 5) {
    return ThresholdEvent{EventType::kWarning, "Temperature is slightly exceeding upper threshold"};
  }
  if (actual < target - 10) {
    return ThresholdEvent{EventType::kError, "Temperature is dropping under the threshold"};
  }
  if (actual < target - 5) {
    return ThresholdEvent{EventType::kWarning,
                          "Temperature is slightly dropping under the threshold"};
  }
  return std::nullopt;
}

std::optional<PowerStatus> parse_power_status(std::string_view text) {
  if (text == "HEAT") return PowerStatus::kHeat;
  if (text == "AC") return PowerStatus::kAc;
  if (text == "OFF") return PowerStatus::kOff;
  return std::nullopt;
}

DeviceModel::DeviceModel(std::string serial, DeviceTopics topics, unsigned seed, UuidSource uuid)
    : serial_(std::move(serial)),
      topics_(std::move(topics)),
      temperature_(seed),
      uuid_(std::move(uuid)) {}

std::string DeviceModel::telemetry_payload(std::int64_t now_ms) const {
  const auto when = iso_local_with_offset(now_ms);
  return json{{"createdAt", when},
              {"deviceId", serial_},
              {"actualTemperature", temperature_.actual()},
              {"targetTemperature", temperature_.target()},
              {"sentAt", when},
              {"timestamp", now_ms}}
      .dump();
}

namespace {
std::string event_json(std::string_view serial, std::string message_id, EventType type,
                       std::string_view message, json value, std::int64_t now_ms) {
  return json{{"deviceId", serial},
              {"messageId", std::move(message_id)},
              {"message", message},
              {"details",
               {{"eventId", "event_" + std::to_string(now_ms)},
                {"sensorId", kSensorId},
                {"sensor", kSensor},
                {"value", std::move(value)}}},
              {"timestamp", now_ms},
              {"type", to_string(type)},
              {"sentAt", iso_local_with_offset(now_ms)}}
      .dump();
}
}  // namespace

std::string DeviceModel::event_payload(EventType type, std::string_view message, double value,
                                       std::int64_t now_ms) const {
  return event_json(serial_, uuid_(), type, message, value, now_ms);
}

std::string DeviceModel::event_payload(EventType type, std::string_view message,
                                       std::string_view value, std::int64_t now_ms) const {
  return event_json(serial_, uuid_(), type, message, std::string(value), now_ms);
}

OutMessage DeviceModel::event(EventType type, std::string_view message, double value,
                              std::int64_t now_ms) const {
  return {topics_.event, event_payload(type, message, value, now_ms)};
}

OutMessage DeviceModel::event(EventType type, std::string_view message, std::string_view value,
                              std::int64_t now_ms) const {
  return {topics_.event, event_payload(type, message, value, now_ms)};
}

std::vector<OutMessage> DeviceModel::tick(std::int64_t now_ms) {
  temperature_.step();
  std::vector<OutMessage> out;
  out.push_back({topics_.telemetry, telemetry_payload(now_ms)});
  // Every tick spent out of band sends another event, as the seed does.
  if (auto e = threshold_event(temperature_.actual(), temperature_.target())) {
    out.push_back(event(e->type, e->message, temperature_.actual(), now_ms));
  }
  return out;
}

OutMessage DeviceModel::shadow_report() const {
  json reported{{"powerStatus", to_string(temperature_.power())},
                {"actualTemperature", temperature_.actual()},
                {"targetTemperature", temperature_.target()}};
  return {topics_.shadow_update, json{{"state", {{"reported", std::move(reported)}}}}.dump()};
}

bool DeviceModel::apply_power(PowerStatus power, std::int64_t now_ms,
                              std::vector<OutMessage>& out) {
  if (power == temperature_.power()) return false;
  temperature_.set_power(power);
  out.push_back(event(EventType::kInfo, kPowerChanged, to_string(power), now_ms));
  return true;
}

bool DeviceModel::apply_target(double target, std::int64_t now_ms, std::vector<OutMessage>& out) {
  if (target == temperature_.target()) return false;
  temperature_.set_target(target);
  out.push_back(event(EventType::kInfo, kTargetChanged, target, now_ms));
  return true;
}

namespace {
constexpr std::string_view kBadPower = "powerStatus must be HEAT, AC or OFF";
constexpr std::string_view kBadTarget = "targetTemperature is not a number";

std::optional<PowerStatus> power_of(const json& v) {
  return v.is_string() ? parse_power_status(v.get_ref<const std::string&>()) : std::nullopt;
}
}  // namespace

std::vector<OutMessage> DeviceModel::on_delta(std::string_view payload, std::int64_t now_ms) {
  std::vector<OutMessage> out;
  auto diagnostic = [&](std::string_view why) {
    out.push_back(event(EventType::kDiagnostic, "Failed to apply the shadow delta", why, now_ms));
  };
  const json doc = json::parse(payload, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("state") ||
      !doc.at("state").is_object()) {
    diagnostic("delta without a state object");
    return out;
  }
  const auto& state = doc.at("state");
  bool changed = false;
  if (auto it = state.find("powerStatus"); it != state.end()) {
    if (const auto power = power_of(*it)) {
      changed = apply_power(*power, now_ms, out) || changed;
    } else {
      diagnostic(kBadPower);
    }
  }
  if (auto it = state.find("targetTemperature"); it != state.end()) {
    if (const auto target = as_float(*it)) {
      changed = apply_target(*target, now_ms, out) || changed;
    } else {
      diagnostic(kBadTarget);
    }
  }
  if (changed) out.push_back(shadow_report());
  return out;
}

std::vector<OutMessage> DeviceModel::on_command(std::string_view payload, std::int64_t now_ms) {
  std::vector<OutMessage> out;
  const json doc = json::parse(payload, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return out;
  const auto id = doc.find("commandId");
  const auto status = doc.find("status");
  if (id == doc.end() || !id->is_string() || status == doc.end() || *status != "pending") {
    return out;
  }
  std::string reason;  // empty: success
  bool changed = false;
  const auto details = doc.find("details");
  if (details == doc.end() || !details->is_object()) {
    reason = "command without details";
  } else if (const auto command = details->find("command"); command != details->end()) {
    const auto value = details->find("value");
    const json none;
    const json& v = value == details->end() ? none : *value;
    if (*command == "set-temp") {
      if (const auto target = as_float(v)) {
        changed = apply_target(*target, now_ms, out);
      } else {
        reason = "set-temp needs a numeric value";
      }
    } else if (*command == "set-mode") {
      if (const auto power = power_of(v)) {
        changed = apply_power(*power, now_ms, out);
      } else {
        reason = "set-mode needs HEAT, AC or OFF";
      }
    } else {
      reason = "unknown command " + command->dump();
    }
  } else {
    // The seed's command: the wanted state itself (its delta carries the same values).
    const auto power = details->find("powerStatus");
    const auto target = details->find("targetTemperature");
    if (power == details->end() && target == details->end()) reason = "nothing to apply";
    if (power != details->end()) {
      if (const auto p = power_of(*power)) {
        changed = apply_power(*p, now_ms, out);
      } else {
        reason = kBadPower;
      }
    }
    if (target != details->end() && reason.empty()) {
      if (const auto t = as_float(*target)) {
        changed = apply_target(*t, now_ms, out) || changed;
      } else {
        reason = kBadTarget;
      }
    }
  }
  if (changed) out.push_back(shadow_report());
  const bool ok = reason.empty();
  out.push_back({topics_.command_reply, json{{"commandId", *id},
                                             {"deviceId", serial_},
                                             {"status", ok ? "success" : "failed"},
                                             {"reason", ok ? std::string("success") : reason}}
                                            .dump()});
  return out;
}

}  // namespace sp::sim
