#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "smartproduct/core/device_message.hpp"

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
  /// The sample's time: device_ts_ms when plausible (sample_time()), else received_at_ms.
  int64_t t_ms = 0;
  /// The device's owner when the message arrived (empty: not registered). Owners see only the
  /// samples stamped with their id, so a new owner never sees a previous owner's history.
  std::string owner_id;
  /// The message's numeric attributes after the pipeline (not `timestamp`), for the rollups.
  std::vector<std::pair<std::string, double>> numbers;
  /// Set when the record comes from the broker's spool (committed with the row).
  std::optional<SpoolMark> spool_mark;
};

/// The sample time of a message: the device's timestamp when it is plausible (not before
/// 2000-01-01 and not more than an hour ahead of the receive time), else the receive time.
inline int64_t sample_time(std::optional<int64_t> device_ts_ms, int64_t received_at_ms) {
  constexpr int64_t kY2k = 946684800000;
  constexpr int64_t kAhead = 3600000;
  if (device_ts_ms && *device_ts_ms >= kY2k && *device_ts_ms <= received_at_ms + kAhead)
    return *device_ts_ms;
  return received_at_ms;
}

/// Aggregates of one numeric field over one bucket (a rollup row, or several merged).
struct Aggregate {
  int64_t count = 0;
  double sum = 0, min = 0, max = 0;
  int64_t first_t = 0, last_t = 0;
  double first = 0, last = 0;
  void merge(const Aggregate& o) {
    if (o.count == 0) return;
    if (count == 0) {
      *this = o;
      return;
    }
    count += o.count;
    sum += o.sum;
    if (o.min < min) min = o.min;
    if (o.max > max) max = o.max;
    if (o.first_t < first_t) {
      first_t = o.first_t;
      first = o.first;
    }
    if (o.last_t >= last_t) {
      last_t = o.last_t;
      last = o.last;
    }
  }
};

/// Rollup resolutions kept in the store; 1d is computed from hours.
enum class Resolution { kMinute, kHour };

enum class AppendOutcome { kStored, kDuplicate };

}  // namespace sp::telemetry
