#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace sp::telemetry {

/// One telemetry message as stored.
struct TelemetryRecord {
  int64_t id = 0;  // assigned by the store
  std::string device_id;
  std::optional<int64_t> device_ts_ms;  // the device's "timestamp" (epoch ms), when valid
  int64_t received_at_ms = 0;           // when the daemon received it
  std::string payload;                  // the device's JSON object, compact
  /// Identifies a retransmission of the same message (empty: cannot be deduplicated).
  std::string dedup_key;
};

enum class AppendOutcome { kStored, kDuplicate };

}  // namespace sp::telemetry
