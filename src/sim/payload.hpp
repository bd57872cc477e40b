#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sp::sim {

/// Telemetry payload shapes the simulator can publish.
enum class PayloadKind {
  /// ~90 bytes: {"seq":n,"timestamp":ms,"actualTemperature":t,"targetTemperature":t}
  kSmall,
  /// The seed device's telemetry fields: createdAt, deviceId, actualTemperature,
  /// targetTemperature, sentAt, timestamp; plus "seq" so a test can match rows to the ack log.
  kSeed,
  /// A device event for smartproduct/event/<serial> (benchmarks of the events path):
  /// {"messageId":"<serial>-<ms>-<seq>" (unique across runs: the daemon drops repeated
  /// ids),"type":"info","message":"bench event","details":{"seq":n},
  ///  "timestamp":ms,"seq":n}
  kEvent,
};

/// What one telemetry message carries.
struct TelemetrySample {
  std::uint64_t seq = 0;
  std::int64_t timestamp_ms = 0;  ///< epoch ms
  double actual_temperature = 0;
  double target_temperature = 0;
};

/// The JSON text of a telemetry message for `serial`.
std::string make_telemetry_payload(PayloadKind kind, std::string_view serial,
                                   const TelemetrySample& sample);

/// Local time with its UTC offset as the seed writes it, e.g. "2019-05-01T12:43:07-07:00".
std::string iso_local_with_offset(std::int64_t epoch_ms);

}  // namespace sp::sim
