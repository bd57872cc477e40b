#pragma once
// The broker spool position of one database (telemetry or main), see SpoolMark.

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::store {

class SpoolPositionRepository {
 public:
  virtual ~SpoolPositionRepository() = default;
  /// The committed position; creates it at {0, 0} when the database has none yet.
  virtual Result<SpoolPosition> load() = 0;
  /// Moves the position alone (records this database does not store, a finished segment) and
  /// waits for the commit. Fails (kUnavailable) when the stored position is not mark.after.
  virtual Result<void> advance(const SpoolMark& mark) = 0;
};

}  // namespace sp::store
