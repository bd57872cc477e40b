#pragma once
// Event ingest: device events on <topic>/<deviceId>, stored with the seed's fields.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

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
  /// `mark`: the message comes from the broker's spool; it is committed with the row. Returns
  /// true when the message went to the store (false: rejected, done(true) already called).
  bool ingest(std::string_view topic, std::string_view payload, std::function<void(bool)> done,
              const SpoolMark* mark = nullptr);

  const IngestCounters& counters() const { return counters_; }

  /// Device id of events the daemon itself raises (not a device: no device can use the id).
  static constexpr const char* kSystemDevice = "$system";
  /// Stores a system event (device kSystemDevice) once for each administrator in `admins`, so it
  /// is in their event lists and, when `type` is in their alertLevel, their alerts. `key` makes
  /// a retry idempotent.
  void record_system_event(const std::vector<std::string>& admins, const std::string& type,
                           const std::string& message, const nlohmann::json& details,
                           const std::string& key);
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
