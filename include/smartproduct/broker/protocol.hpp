#pragma once
// The topic names of the broker plugin's protocol, defined once for both ends: the plugin
// (src/broker_plugin, loaded into mosquitto) and the daemon (presence and jitr modules).
// Header-only and free of mosquitto so the plugin can use it without linking the daemon's
// libraries. The message formats are described in src/broker_plugin/README.md.

#include <string_view>

namespace sp::broker {

/// Presence events, one topic per CN (`<prefix><cn>`): devices cannot write `$SYS`, so only the
/// plugin can publish here.
inline constexpr std::string_view kPresencePrefix = "$SYS/smartproduct/presence/";
/// The retained `broker_started` message (epoch and pid of the broker process).
inline constexpr std::string_view kBrokerTopic = "$SYS/smartproduct/presence/_broker";
/// Commands from service users to the plugin (versioned: a new contract gets a new topic).
inline constexpr std::string_view kControlTopic = "$CONTROL/smartproduct/v1";
/// The plugin's answers to control commands.
inline constexpr std::string_view kControlResponseTopic = "$CONTROL/smartproduct/v1/response";

/// Per-device behaviour counters of one report interval (detection; format in the plugin README).
inline constexpr std::string_view kBehaviourTopic = "$SYS/smartproduct/behaviour";
}  // namespace sp::broker
