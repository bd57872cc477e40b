#pragma once
// Event ingest: device events on <topic>/<deviceId>, stored with the seed's fields.

#include <functional>
#include <string>
#include <string_view>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/store/event_repository.hpp"

namespace sp::events {

/// [events]: the ingest path's switch, topic prefix and size limit.
using IngestConfig = IngestSettings;

/// Who owns a device right now (the registry module answers; absent before registration exists).
using OwnerLookup = std::function<std::optional<std::string>(const std::string& device_id)>;

class EventService {
 public:
  /// Publishes EventStored on `bus` for every new event once it is committed.
  EventService(IngestConfig config, store::EventRepository& repository, const Clock& clock,
               EventBus& bus, OwnerLookup owner = {});

  /// See TelemetryService::ingest.
  void ingest(std::string_view topic, std::string_view payload, std::function<void(bool)> done);

  const IngestCounters& counters() const { return counters_; }
  const IngestConfig& config() const { return config_; }

 private:
  IngestConfig config_;
  store::EventRepository& repository_;
  const Clock& clock_;
  EventBus& bus_;
  OwnerLookup owner_;
  IngestCounters counters_;
};

}  // namespace sp::events
