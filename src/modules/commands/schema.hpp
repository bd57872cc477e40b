#pragma once
// Which commands a device accepts and how their body is checked: pure functions, no I/O.
//
// The built-in default is the seed's thermostat (set-temp / set-mode with its rules). A catalog
// model may declare its own commands in its `details` instead:
//
//   "commands": {
//     "set-brightness": {"type": "number", "field": "brightness", "min": 0, "max": 100},
//     "set-color":      {"type": "enum", "field": "color", "values": ["red", "green"]},
//     "say":            {"type": "string", "field": "message", "maxLength": 64}
//   }
//
// A declared command's body is {commandDetails:{command, value}}; its value is checked against
// the declaration and written to `desired.<field>`.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::commands {

/// One declared command.
struct CommandSpec {
  enum class Type { kNumber, kString, kEnum };
  std::string name;
  std::string field;  // the desired key it sets
  Type type = Type::kNumber;
  std::optional<double> min, max;   // numbers
  std::vector<std::string> values;  // enums
  std::size_t max_length = 256;     // strings
};

/// The commands of a device model: the thermostat's built-in rules, or declared ones.
struct CommandSchema {
  bool thermostat = true;
  std::vector<CommandSpec> commands;  // when !thermostat
};

/// The schema of a model from its catalog `details`: its "commands" declaration, or the
/// thermostat when it has none. An invalid declaration is 422 InvalidCommandSchema naming the
/// problem.
Result<CommandSchema> schema_from_details(const nlohmann::json& details);

/// A request that passed validation.
struct ValidCommand {
  std::string command;
  nlohmann::json value;    // normalised (set-temp: rounded to 2 decimals, a number)
  std::string field;       // the desired key
  nlohmann::json details;  // sent to the device in the command message
  std::optional<std::int64_t> ttl_s;
};

/// Limits on a command's own ttlSeconds.
inline constexpr std::int64_t kMinTtlSeconds = 1;

/// Checks the body of POST /api/devices/{id}/commands against `schema`: 422 InvalidParameter
/// (with what is wrong) for any failure. `max_ttl_s` bounds an optional top-level `ttlSeconds`.
Result<ValidCommand> validate_command(const CommandSchema& schema, const nlohmann::json& body,
                                      std::int64_t max_ttl_s);

/// `v` rounded to 2 decimals, as an integer when it has none (72.0 → 72, 72.499 → 72.5).
nlohmann::json round2(double v);

}  // namespace sp::commands
