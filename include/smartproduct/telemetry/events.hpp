#pragma once
// Domain events of the telemetry module, published on the event bus after the commit.

#include "smartproduct/telemetry/types.hpp"

namespace sp::telemetry {

/// A new (not duplicate) telemetry message was committed and acknowledged.
struct TelemetryStored {
  TelemetryRecord record;
};

}  // namespace sp::telemetry
