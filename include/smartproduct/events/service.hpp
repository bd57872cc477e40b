#pragma once
// Event ingest: device events on <topic>/<deviceId>, stored with the seed's fields.

#include <functional>
#include <string>
#include <string_view>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/device_message.hpp"
#include "smartproduct/store/event_repository.hpp"

namespace sp::events {

struct IngestConfig {
  std::string topic = "smartproduct/event";
  std::size_t max_payload_bytes = 131072;
};

/// Who owns a device right now (the registry module answers; absent before registration exists).
using OwnerLookup = std::function<std::optional<std::string>(const std::string& device_id)>;

class EventService {
 public:
  EventService(IngestConfig config, store::EventRepository& repository, const Clock& clock,
               OwnerLookup owner = {});

  /// See TelemetryService::ingest.
  void ingest(std::string_view topic, std::string_view payload, std::function<void(bool)> done);

  const IngestCounters& counters() const { return counters_; }

 private:
  IngestConfig config_;
  store::EventRepository& repository_;
  const Clock& clock_;
  OwnerLookup owner_;
  IngestCounters counters_;
};

}  // namespace sp::events
