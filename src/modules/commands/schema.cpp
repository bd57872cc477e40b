#include "modules/commands/schema.hpp"

#include <cmath>
#include <limits>

#include "smartproduct/http/errors.hpp"

namespace sp::commands {
namespace {

using nlohmann::json;

constexpr const char* kSetTemp = "set-temp";
constexpr const char* kSetMode = "set-mode";
constexpr const char* kPowerStatuses[] = {"HEAT", "AC", "OFF"};
// The seed's thermostat range, in °F.
constexpr double kMinTargetF = 50;
constexpr double kMaxTargetF = 110;
constexpr std::size_t kMaxCommandName = 64;

tl::unexpected<Error> invalid(const std::string& what) {
  return fail(errors::kInvalidParameter,
              "Body parameters are invalid. Please check the API specification. (" + what + ")");
}

tl::unexpected<Error> bad_schema(const std::string& what) {
  return fail(errors::kInvalidCommandSchema,
              "The device model declares its commands wrongly: " + what);
}

// A JSON number, or a string holding one (the seed accepted "72"); finite values only.
std::optional<double> numeric(const json& v) {
  double d = 0;
  if (v.is_number()) {
    d = v.get<double>();
  } else if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 32) return std::nullopt;
    std::size_t used = 0;
    try {
      d = std::stod(s, &used);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (used != s.size()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

bool valid_key(const std::string& s) {
  if (s.empty() || s.size() > kMaxCommandName) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

Result<ValidCommand> validate_thermostat(const json& cmd, const json& shadow) {
  if (!shadow.is_object()) return invalid("shadowDetails must be an object");
  const auto name = cmd.find("command");
  if (name == cmd.end() || !name->is_string()) return invalid("command is missing");
  const std::string command = name->get<std::string>();
  if (command != kSetTemp && command != kSetMode) {
    return invalid("command must be set-temp or set-mode");
  }
  const auto power = shadow.find("powerStatus");
  bool power_ok = false;
  if (power != shadow.end() && power->is_string()) {
    for (const char* p : kPowerStatuses) power_ok = power_ok || *power == p;
  }
  if (!power_ok) return invalid("powerStatus must be HEAT, AC or OFF");
  const auto target_it = shadow.find("targetTemperature");
  const auto target = target_it == shadow.end() ? std::nullopt : numeric(*target_it);
  if (!target || *target < kMinTargetF || *target > kMaxTargetF) {
    return invalid("targetTemperature must be a number from 50 to 110");
  }
  json details = {{"powerStatus", *power}, {"targetTemperature", round2(*target)}};
  if (auto actual = shadow.find("actualTemperature"); actual != shadow.end()) {
    auto a = numeric(*actual);
    if (!a) return invalid("actualTemperature must be a number");
    details["actualTemperature"] = round2(*a);  // for the device's information; never desired
  }
  const auto value_it = cmd.find("value");
  if (value_it == cmd.end()) return invalid("value is missing");
  ValidCommand out;
  out.command = command;
  out.details = std::move(details);
  if (command == kSetTemp) {
    auto value = numeric(*value_it);
    if (!value) return invalid("set-temp needs a numeric value");
    // The value is the target: both must say the same (after rounding).
    if (round2(*value) != round2(*target)) return invalid("value must equal targetTemperature");
    out.value = round2(*target);
    out.field = "targetTemperature";
  } else {
    if (!value_it->is_string() || *value_it != *power) {
      return invalid("set-mode value must equal powerStatus");
    }
    out.value = *power;
    out.field = "powerStatus";
  }
  return out;
}

Result<ValidCommand> validate_declared(const CommandSchema& schema, const json& cmd) {
  const auto name = cmd.find("command");
  if (name == cmd.end() || !name->is_string()) return invalid("command is missing");
  const CommandSpec* spec = nullptr;
  for (const auto& s : schema.commands) {
    if (*name == s.name) spec = &s;
  }
  if (spec == nullptr) return invalid("this device has no command " + name->dump());
  const auto value_it = cmd.find("value");
  if (value_it == cmd.end()) return invalid("value is missing");
  ValidCommand out;
  out.command = spec->name;
  out.field = spec->field;
  switch (spec->type) {
    case CommandSpec::Type::kNumber: {
      auto v = numeric(*value_it);
      if (!v) return invalid("value must be a number");
      if ((spec->min && *v < *spec->min) || (spec->max && *v > *spec->max)) {
        return invalid("value is out of range");
      }
      out.value = round2(*v);
      break;
    }
    case CommandSpec::Type::kString:
      if (!value_it->is_string() ||
          value_it->get_ref<const std::string&>().size() > spec->max_length) {
        return invalid("value must be a string of at most " + std::to_string(spec->max_length) +
                       " bytes");
      }
      out.value = *value_it;
      break;
    case CommandSpec::Type::kEnum: {
      bool ok = false;
      for (const auto& allowed : spec->values) ok = ok || *value_it == allowed;
      if (!ok) return invalid("value is not one of the allowed values");
      out.value = *value_it;
      break;
    }
  }
  out.details = {{"command", out.command}, {"value", out.value}, {out.field, out.value}};
  return out;
}

}  // namespace

json round2(double v) {
  const double r = std::round(v * 100.0) / 100.0;
  if (std::abs(r) < 1e15 && r == std::trunc(r)) return static_cast<std::int64_t>(r);
  return r;
}

Result<CommandSchema> schema_from_details(const json& details) {
  CommandSchema schema;
  if (!details.is_object()) return schema;
  const auto decl = details.find("commands");
  if (decl == details.end()) return schema;
  if (!decl->is_object() || decl->empty()) return bad_schema("commands must be a non-empty object");
  schema.thermostat = false;
  for (const auto& [name, d] : decl->items()) {
    if (!valid_key(name)) return bad_schema("command name '" + name + "'");
    if (!d.is_object()) return bad_schema(name + " must be an object");
    CommandSpec spec;
    spec.name = name;
    const auto field = d.find("field");
    if (field == d.end() || !field->is_string() || !valid_key(field->get<std::string>())) {
      return bad_schema(name + ".field must name a shadow key");
    }
    spec.field = field->get<std::string>();
    const auto type = d.find("type");
    const std::string t = type != d.end() && type->is_string() ? type->get<std::string>() : "";
    if (t == "number") {
      spec.type = CommandSpec::Type::kNumber;
      for (const char* bound : {"min", "max"}) {
        if (auto b = d.find(bound); b != d.end()) {
          if (!b->is_number()) return bad_schema(name + "." + bound + " must be a number");
          (std::string(bound) == "min" ? spec.min : spec.max) = b->get<double>();
        }
      }
    } else if (t == "string") {
      spec.type = CommandSpec::Type::kString;
      if (auto m = d.find("maxLength"); m != d.end()) {
        if (!m->is_number_integer() || m->get<std::int64_t>() < 1 ||
            m->get<std::int64_t>() > 4096) {
          return bad_schema(name + ".maxLength must be 1 to 4096");
        }
        spec.max_length = static_cast<std::size_t>(m->get<std::int64_t>());
      }
    } else if (t == "enum") {
      spec.type = CommandSpec::Type::kEnum;
      const auto values = d.find("values");
      if (values == d.end() || !values->is_array() || values->empty()) {
        return bad_schema(name + ".values must be a non-empty array");
      }
      for (const auto& v : *values) {
        if (!v.is_string()) return bad_schema(name + ".values must be strings");
        spec.values.push_back(v.get<std::string>());
      }
    } else {
      return bad_schema(name + ".type must be number, string or enum");
    }
    schema.commands.push_back(std::move(spec));
  }
  return schema;
}

Result<ValidCommand> validate_command(const CommandSchema& schema, const json& body,
                                      std::int64_t max_ttl_s) {
  if (!body.is_object()) return invalid("the body must be an object");
  const auto cmd = body.find("commandDetails");
  if (cmd == body.end() || !cmd->is_object()) return invalid("commandDetails must be an object");
  std::optional<std::int64_t> ttl;
  if (auto t = body.find("ttlSeconds"); t != body.end() && !t->is_null()) {
    if (!t->is_number_integer() || t->get<std::int64_t>() < kMinTtlSeconds ||
        t->get<std::int64_t>() > max_ttl_s) {
      return invalid("ttlSeconds must be an integer from 1 to " + std::to_string(max_ttl_s));
    }
    ttl = t->get<std::int64_t>();
  }
  Result<ValidCommand> out;
  if (schema.thermostat) {
    const auto shadow = body.find("shadowDetails");
    if (shadow == body.end()) return invalid("shadowDetails must be an object");
    out = validate_thermostat(*cmd, *shadow);
  } else {
    out = validate_declared(schema, *cmd);
  }
  if (out) out->ttl_s = ttl;
  return out;
}

}  // namespace sp::commands
