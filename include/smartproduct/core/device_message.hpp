#pragma once
// Validation shared by every device → server MQTT message (telemetry, events, command replies).
// The device id always comes from the topic: the broker plugin binds the topic to the certificate
// CN, so the topic is authenticated while the payload is whatever the device chose to write.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp {

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

/// The completion of an ingest append: counts stored / duplicate / failed and acknowledges the
/// message; a store failure is not acknowledged (done(false)) so the broker redelivers it.
template <class Outcome>
std::function<void(Result<Outcome>)> count_and_acknowledge(IngestCounters& counters,
                                                           const char* path, Outcome duplicate,
                                                           std::function<void(bool)> done) {
  return [&counters, path, duplicate, done = std::move(done)](Result<Outcome> outcome) {
    if (!outcome) {
      counters.store_failures++;
      spdlog::error("{}: store failed: {} ({})", path, outcome.error().message,
                    outcome.error().detail);
      done(false);
      return;
    }
    if (*outcome == duplicate) {
      counters.duplicates++;
    } else {
      counters.stored++;
    }
    done(true);
  };
}

}  // namespace sp
