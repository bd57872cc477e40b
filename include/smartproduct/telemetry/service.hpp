#pragma once
// Telemetry ingest: validates device telemetry and appends it durably. The MQTT binding calls
// ingest() for every message on <topic>/<deviceId> and acknowledges when `done` is called.

#include <functional>
#include <string>
#include <string_view>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/store/telemetry_repository.hpp"

namespace sp::telemetry {

/// [telemetry]: the ingest path's switch, topic prefix and size limit.
using IngestConfig = IngestSettings;

class TelemetryService {
 public:
  /// Publishes TelemetryStored on `bus` for every new message once it is committed.
  TelemetryService(IngestConfig config, store::TelemetryRepository& repository, const Clock& clock,
                   EventBus& bus);

  /// `done(true)` once stored, a duplicate, or rejected (counted); `done(false)` when the store
  /// failed, so the message must not be acknowledged.
  void ingest(std::string_view topic, std::string_view payload, std::function<void(bool)> done);

  const IngestCounters& counters() const { return counters_; }
  const IngestConfig& config() const { return config_; }

 private:
  IngestConfig config_;
  store::TelemetryRepository& repository_;
  const Clock& clock_;
  EventBus& bus_;
  IngestCounters counters_;
};

/// Dedup key of a device message: retransmissions carry identical bytes, and a message that holds
/// a timestamp, sequence number or message id is not expected to repeat itself byte for byte. The
/// key is the device timestamp (or sequence) followed by 64 bits of the payload's SHA-256, so keys
/// grow with time. Returns "" (no deduplication) for payloads with none of those fields.
std::string dedup_key(const nlohmann::json& body, std::string_view payload);

}  // namespace sp::telemetry
