#pragma once
// The seed simulator's device behaviour (telemetry ticks, power modes, shadow and commands) without
// any I/O: what a simulated device publishes on each tick, on a shadow delta and on a command
// message. The MQTT side (run_command.cpp) only moves these messages; tests drive the model with a
// fixed clock and ids.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "temperature_model.hpp"

namespace sp::sim {

/// Topic layout of one device (prefixes from the instance config, as the seed's config.js had).
struct DeviceTopics {
  std::string telemetry;  ///< <telemetry prefix>/<serial>
  std::string event;      ///< <event prefix>/<serial>
  std::string commands;   ///< smartproduct/commands/<serial> (hard-coded in the seed)
  /// smartproduct/commands/<serial>/response (fix of §20.3); with --legacy-replies the command
  /// topic itself, as the seed's devices replied.
  std::string command_reply;
  std::string shadow_update;  ///< $aws/things/<serial>/shadow/update
  std::string shadow_delta;   ///< $aws/things/<serial>/shadow/update/delta

  static DeviceTopics for_serial(std::string_view serial,
                                 std::string_view telemetry_prefix = "smartproduct/telemetry",
                                 std::string_view event_prefix = "smartproduct/event");
};

/// One message the device wants to publish (always QoS 1).
struct OutMessage {
  std::string topic;
  std::string payload;
};

/// Event severities of the seed.
enum class EventType { kError, kWarning, kInfo, kDiagnostic };
std::string_view to_string(EventType type);

/// A threshold verdict: type and the seed's exact message text.
struct ThresholdEvent {
  EventType type;
  std::string_view message;
};

/// The seed's bands around the target (°F): above +10 error, above +5 warning, below -5 warning,
/// below -10 error; nothing inside [target-5, target+5].
std::optional<ThresholdEvent> threshold_event(double actual, double target);

/// Parses "HEAT" | "AC" | "OFF".
std::optional<PowerStatus> parse_power_status(std::string_view text);

/// The seed device: temperature model, threshold events, shadow reports, delta handling and
/// command replies. Not thread-safe (one per device, driven by its poll loop).
class DeviceModel {
 public:
  using UuidSource = std::function<std::string()>;

  /// `seed` drives the random walk in OFF; `uuid` makes event messageIds.
  DeviceModel(std::string serial, DeviceTopics topics, unsigned seed, UuidSource uuid);

  /// The run tick: moves the temperature, then telemetry and, when out of band, one event.
  std::vector<OutMessage> tick(std::int64_t now_ms);

  /// `{"state":{"reported":{powerStatus,actualTemperature,targetTemperature}}}` on shadow/update.
  OutMessage shadow_report() const;

  /// A message on the shadow delta topic. Adopts `powerStatus` / `targetTemperature` (numbers or
  /// numeric strings) that differ from the current state, emits the seed's `info` event for each,
  /// and reports the new state at once (the seed waited for the 30 s status timer, §20.10). A
  /// payload it cannot use yields one `diagnostic` event.
  std::vector<OutMessage> on_delta(std::string_view payload, std::int64_t now_ms);

  /// A message on the command topic. A `pending` command `{commandId, details:{command:
  /// "set-temp"|"set-mode", value}}` (or the seed's `details:{powerStatus, targetTemperature}`) is
  /// applied like a delta (info events, a state report when something changed) and answered with
  /// `{commandId, deviceId, status:"success"|"failed", reason}` on the reply topic; a command it
  /// cannot apply is answered `failed` with the reason. Anything else (results, the echo of a
  /// reply on the legacy topic, garbage) is ignored. The seed replied only when a delta had
  /// changed something first (§9), so a command that overtook its delta was never answered.
  std::vector<OutMessage> on_command(std::string_view payload, std::int64_t now_ms);

  const std::string& serial() const { return serial_; }
  const DeviceTopics& topics() const { return topics_; }
  const TemperatureModel& temperature() const { return temperature_; }

  /// The event message JSON (seed §5.3): deviceId, messageId, message, details{eventId:
  /// "event_<ms>", sensorId, sensor, value}, timestamp (ms), type, sentAt.
  std::string event_payload(EventType type, std::string_view message, double value,
                            std::int64_t now_ms) const;
  std::string event_payload(EventType type, std::string_view message, std::string_view value,
                            std::int64_t now_ms) const;
  /// The seed's telemetry: createdAt, deviceId, actualTemperature, targetTemperature, sentAt,
  /// timestamp.
  std::string telemetry_payload(std::int64_t now_ms) const;

 private:
  OutMessage event(EventType type, std::string_view message, double value,
                   std::int64_t now_ms) const;
  OutMessage event(EventType type, std::string_view message, std::string_view value,
                   std::int64_t now_ms) const;
  // Adopt a new mode / target; an info event when it changes. Return whether it changed.
  bool apply_power(PowerStatus power, std::int64_t now_ms, std::vector<OutMessage>& out);
  bool apply_target(double target, std::int64_t now_ms, std::vector<OutMessage>& out);

  std::string serial_;
  DeviceTopics topics_;
  TemperatureModel temperature_;
  UuidSource uuid_;
};

}  // namespace sp::sim
