#pragma once
// Validation shared by every device → server MQTT message (telemetry, events, command replies).
// The device id always comes from the topic: the broker plugin binds the topic to the certificate
// CN, so the topic is authenticated while the payload is whatever the device chose to write.

#include <atomic>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp {

namespace config {
class Section;
}

// The device contract's defaults, declared once: the broker plugin, the simulator and the modules
// all start from these.
inline constexpr std::string_view kDefaultTelemetryTopic = "smartproduct/telemetry";
inline constexpr std::string_view kDefaultEventTopic = "smartproduct/event";
inline constexpr std::string_view kDefaultCommandTopic = "smartproduct/commands";
/// AWS IoT's shadow topics: <prefix>/<device id>/shadow/...
inline constexpr std::string_view kShadowTopicPrefix = "$aws/things";
/// Largest device message accepted on an ingest topic (the broker's own limit is larger).
inline constexpr std::size_t kDefaultMaxDevicePayloadBytes = 131072;

/// One ingest path's settings: the seed's feature switch with its topic prefix ([telemetry],
/// [events]).
struct IngestSettings {
  std::string topic;
  std::size_t max_payload_bytes = kDefaultMaxDevicePayloadBytes;
  bool enabled = true;
};

/// Reads `enabled`, `topic` (a prefix without wildcards or trailing '/') and `max_payload_bytes`
/// from the section, then finish()es it.
IngestSettings read_ingest_settings(config::Section& section, std::string_view default_topic);

/// Why a device message was refused (each has its own counter).
enum class DeviceMessageRejection {
  kBadTopic,       // not <prefix>/<device id> with a valid id
  kOversize,       // payload above the configured limit
  kMalformed,      // not JSON
  kNotObject,      // JSON, but not an object
  kForeignDevice,  // payload names another device in "deviceId"
  kInvalid,        // an object, but a field has the wrong type/value
};

std::string_view to_string(DeviceMessageRejection rejection);

/// True for ids devices may have: [A-Za-z0-9:_-]{1,128} (the seed's thing-name rule, which is also
/// what the broker plugin accepts as a CN).
bool is_valid_device_id(std::string_view id);

/// "<prefix>/<id>" → id, or nullopt when the topic does not have exactly that shape.
std::optional<std::string> device_id_from_topic(std::string_view prefix, std::string_view topic);

struct ParsedDeviceMessage {
  std::string device_id;
  nlohmann::json body;  // always an object
};

/// Applies the checks every ingest path shares, in order: topic, size, JSON, object, deviceId.
struct DeviceMessageResult {
  std::optional<ParsedDeviceMessage> message;
  DeviceMessageRejection rejection = DeviceMessageRejection::kInvalid;
};
DeviceMessageResult parse_device_message(std::string_view prefix, std::string_view topic,
                                         std::string_view payload, std::size_t max_payload_bytes);

/// An epoch-milliseconds timestamp from a JSON number in a plausible range (after 2000-01-01,
/// before 2100-01-01); nullopt otherwise.
std::optional<int64_t> epoch_ms_field(const nlohmann::json& object, const char* key);

/// A record's place in the broker's ingest spool (segment number, sequence number in it). seq
/// kSegmentDone means "the whole segment".
struct SpoolPosition {
  int64_t segment = 0;
  int64_t seq = 0;
  static constexpr int64_t kSegmentDone = INT64_MAX;
  auto operator<=>(const SpoolPosition&) const = default;
};

/// Handed with a spool record to an ingest service and on to its repository: the row commits in
/// the same transaction as the database's spool position moving from `after` to `position`, and
/// fails (rolled back, done(false)) if the stored position is not `after`. So each database holds
/// exactly the records up to its position, without gaps, after any crash.
struct SpoolMark {
  SpoolPosition after;
  SpoolPosition position;
};

struct MetricSample;

/// Counters of one ingest path; monotonically increasing, read without locks.
struct IngestCounters {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> stored{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> store_failures{0};
  std::atomic<uint64_t> rejected_bad_topic{0};
  std::atomic<uint64_t> rejected_oversize{0};
  std::atomic<uint64_t> rejected_malformed{0};
  std::atomic<uint64_t> rejected_not_object{0};
  std::atomic<uint64_t> rejected_foreign_device{0};
  std::atomic<uint64_t> rejected_invalid{0};

  void count(DeviceMessageRejection rejection);
  nlohmann::json to_json() const;
};

/// The counters of one ingest path as metric samples labelled path="<path>".
void report_ingest_metrics(const IngestCounters& counters, const char* path,
                           std::vector<MetricSample>& out);

/// The completion of an ingest append: counts stored / duplicate / failed and acknowledges the
/// message; a store failure is not acknowledged (done(false)) so the broker redelivers it.
/// `on_stored` runs after a new (not duplicate) message was committed and acknowledged.
template <class Outcome>
std::function<void(Result<Outcome>)> count_and_acknowledge(IngestCounters& counters,
                                                           const char* path, Outcome duplicate,
                                                           std::function<void(bool)> done,
                                                           std::function<void()> on_stored = {}) {
  return [&counters, path, duplicate, done = std::move(done),
          on_stored = std::move(on_stored)](Result<Outcome> outcome) {
    if (!outcome) {
      counters.store_failures++;
      spdlog::error("{}: store failed: {} ({})", path, outcome.error().message,
                    outcome.error().detail);
      done(false);
      return;
    }
    if (*outcome == duplicate) {
      counters.duplicates++;
      done(true);
      return;
    }
    counters.stored++;
    done(true);
    if (on_stored) on_stored();
  };
}

}  // namespace sp
