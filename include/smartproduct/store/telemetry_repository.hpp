#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/telemetry/types.hpp"

namespace sp::store {

class TelemetryRepository {
 public:
  virtual ~TelemetryRepository() = default;
  /// Appends durably. `done` runs after the record is committed (kStored), or found to be a
  /// retransmission of a committed record (kDuplicate), or with an error. Group-committed.
  virtual void append(telemetry::TelemetryRecord record,
                      std::function<void(Result<telemetry::AppendOutcome>)> done) = 0;
  /// Newest sample time first.
  virtual Result<std::vector<telemetry::TelemetryRecord>> recent(const std::string& device_id,
                                                                 int limit) = 0;
  /// Records stored for one device, or for all when device_id is empty.
  virtual Result<int64_t> count(const std::string& device_id) = 0;
};

/// Reads for the time-series routes. `owner`: only samples stamped with this owner (nullopt:
/// all, for administrators).
class TelemetryReader {
 public:
  virtual ~TelemetryReader() = default;
  struct RawQuery {
    std::string device_id;
    std::optional<std::string> owner;
    int64_t from_ms = 0, to_ms = 0;  // [from, to)
    std::optional<std::pair<int64_t, int64_t>> after;  // (t, id) of the last row of the page before
    int limit = 100;
  };
  /// Raw samples in time order, at most `limit`.
  virtual Result<std::vector<telemetry::TelemetryRecord>> raw(const RawQuery& q) = 0;
  /// Raw samples newest first (for /latest).
  virtual Result<std::vector<telemetry::TelemetryRecord>> newest(
      const std::string& device_id, const std::optional<std::string>& owner, int limit) = 0;
  struct RollupRow {
    int64_t bucket = 0;
    std::string field;
    telemetry::Aggregate agg;
  };
  /// Rollup rows with bucket in [from, to), ordered by bucket then field, owners merged by the
  /// caller. `fields` empty: all. Calls `row` for each; stops when it returns false.
  virtual Result<void> rollups(telemetry::Resolution resolution, const std::string& device_id,
                               const std::optional<std::string>& owner, int64_t from_ms,
                               int64_t to_ms, const std::vector<std::string>& fields,
                               const std::function<bool(const RollupRow&)>& row) = 0;
};

}  // namespace sp::store
