#pragma once
// The commands module's domain types: a command sent to a device and its life cycle. No MQTT, HTTP
// or SQLite here.
//
//   pending ──reply {status:"success"|"failed"}──> success | failed   (the device's reason kept)
//      │ ──expires_at passed──────────────────────> failed, reason "timeout"
//      └ ──a newer command for the same field───> superseded
// A command moves out of `pending` exactly once; the database settles races between a reply, the
// sweep and a newer command.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sp::commands {

enum class CommandStatus { kPending, kSuccess, kFailed, kSuperseded };

constexpr std::string_view to_string(CommandStatus status) {
  switch (status) {
    case CommandStatus::kPending:
      return "pending";
    case CommandStatus::kSuccess:
      return "success";
    case CommandStatus::kFailed:
      return "failed";
    case CommandStatus::kSuperseded:
      return "superseded";
  }
  return "pending";
}

constexpr std::optional<CommandStatus> command_status_from(std::string_view text) {
  for (auto s : {CommandStatus::kPending, CommandStatus::kSuccess, CommandStatus::kFailed,
                 CommandStatus::kSuperseded}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

/// One command as stored.
struct Command {
  std::string id;         // uuid v4
  std::string device_id;  // the serial
  std::string owner;      // user id of the registration it was sent under
  std::string command;    // e.g. "set-temp"
  nlohmann::json value;   // normalised (set-temp: a number rounded to 2 decimals)
  /// The `details` object sent to the device (the seed's shadowDetails for the thermostat).
  nlohmann::json details = nlohmann::json::object();
  std::string field;  // the shadow `desired` key the command sets
  CommandStatus status = CommandStatus::kPending;
  std::optional<std::string> reason;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t expires_at_ms = 0;
  std::int64_t seq = 0;  // storage order (paging); assigned by the repository
};

/// Where a page of a device's commands resumes (newest first).
struct CommandKey {
  std::int64_t created_at_ms = 0;
  std::int64_t seq = 0;
};

/// The seed's command item {commandId, deviceId, userId, status, reason?, details:{command,
/// value}, createdAt, updatedAt} plus field and expiresAt; times ISO-8601 UTC with ms.
nlohmann::json command_to_json(const Command& command);

/// The message published on smartproduct/commands/<serial>:
/// {commandId, deviceId, status:"pending", details:{...}}.
nlohmann::json command_message(const Command& command);

}  // namespace sp::commands
