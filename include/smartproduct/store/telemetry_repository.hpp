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
  /// Newest first.
  virtual Result<std::vector<telemetry::TelemetryRecord>> recent(const std::string& device_id,
                                                                 int limit) = 0;
  /// Records stored for one device, or for all when device_id is empty.
  virtual Result<int64_t> count(const std::string& device_id) = 0;
};

}  // namespace sp::store
