#pragma once
// The ingest module ([ingest]): feeds device telemetry and events to their services from one of
// two sources, the broker plugin's spool (tailer.hpp) or an MQTT QoS 1 subscription.

#include <memory>

#include "smartproduct/core/module.hpp"

namespace sp::ingest {

std::unique_ptr<Module> make_module();

}  // namespace sp::ingest
