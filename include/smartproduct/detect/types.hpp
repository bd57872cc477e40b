#pragma once
// Detection (module detect, issue 15 item 2): the behaviours the broker plugin counts per device,
// the security profiles whose rules judge them, and what a judgement changes. Plain C++.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sp::detect {

/// A behaviour, measured per device over a rule's window (durationSeconds).
enum class Metric {
  kMessagesSent,           // publishes the broker accepted from the device (sum)
  kMessagesReceived,       // deliveries to the device (sum)
  kBytesSent,              // payload bytes of those publishes (sum)
  kMessageByteSize,        // the largest payload in the window (max)
  kAuthorizationFailures,  // publishes/subscribes the broker refused (sum)
  kConnectionAttempts,     // connects with the device's certificate, accepted or not (sum)
  kDisconnects,            // connections that ended (sum)
  kSourceIpAddresses,      // distinct source addresses (count)
};
inline constexpr std::size_t kMetricCount = 8;

/// The wire names (the Defender Detect metric names without their "aws:num-" prefix).
inline constexpr std::array<std::string_view, kMetricCount> kMetricNames = {
    "messages-sent",          "messages-received",   "bytes-sent",  "message-byte-size",
    "authorization-failures", "connection-attempts", "disconnects", "source-ip-addresses"};

inline std::string_view to_string(Metric m) { return kMetricNames[static_cast<std::size_t>(m)]; }
inline std::optional<Metric> metric_from(std::string_view name) {
  for (std::size_t i = 0; i < kMetricCount; ++i) {
    if (kMetricNames[i] == name) return static_cast<Metric>(i);
  }
  return std::nullopt;
}

enum class Comparison { kGreaterThan, kGreaterThanEquals, kLessThan, kLessThanEquals };
enum class Action { kNotify, kQuarantine, kRevoke };

std::string_view to_string(Comparison c);
std::string_view to_string(Action a);

/// One rule of a profile. Static: `value` compared with `comparison`. Statistical: the window's
/// value is a violation when it exceeds the `percentile` (90 or 99) of the device's own windows of
/// the last 7 days, once at least `min_samples` windows were learned.
struct Rule {
  std::string name;
  Metric metric = Metric::kMessagesSent;
  std::optional<int> percentile;  // set: statistical
  Comparison comparison = Comparison::kGreaterThan;
  double value = 0;
  int min_samples = 20;
  int duration_s = 300;
  Action action = Action::kNotify;
  int clear_after_s = 600;
};

/// Rules for the devices of one model (`model` set) or for every device.
struct Profile {
  std::string name;
  std::optional<std::string> model;
  std::vector<Rule> rules;
};

/// Limits of the profile document (PUT /api/admin/security-profiles).
inline constexpr std::size_t kMaxProfiles = 50;
inline constexpr std::size_t kMaxRulesPerProfile = 20;
inline constexpr int kMinDurationS = 1;
inline constexpr int kMaxDurationS = 86400;

/// What the broker plugin counted for one device over one report interval.
struct BehaviourSample {
  std::string device_id;
  std::int64_t to_ms = 0;  // end of the interval (the plugin's clock)
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t max_message_bytes = 0;
  std::uint64_t authorization_failures = 0;
  std::uint64_t connection_attempts = 0;
  std::uint64_t disconnects = 0;
  std::vector<std::string> addresses;  // distinct, as many as the plugin lists
  std::uint64_t distinct_addresses = 0;
};

/// A rule's verdict for a device: raised (its first violating window), continued (a window of an
/// active violation closed, violating: its final value), or cleared (normal for the rule's clear
/// time). `value` is the measured value, `threshold` what it was held to.
struct Transition {
  enum class Kind { kRaised, kContinued, kCleared } kind = Kind::kRaised;
  std::string device_id;
  std::string profile;
  Rule rule;
  double value = 0;
  double threshold = 0;
  std::int64_t at_ms = 0;
};

}  // namespace sp::detect
