#pragma once
// The alerts module's logic (issue 13 items 1 and 2): the seed's event routes 8, 11-13 and alert
// routes 9-10 with its faults fixed. Who may read what: someone else's device is 403 and an unknown
// one 404 (the device access check); a user sees the events stamped with their own id at arrival
// (so a previous owner keeps their history and a new owner sees only events since they
// registered); an admin sees every event of a device. No HTTP, no SQL.
//
// Error names: MissingEvent (404), InvalidParameter (422), MissingDevice (404),
// DeviceAccessDenied (403), StoreUnavailable (503).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/alerts/types.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/devices/types.hpp"
#include "smartproduct/store/alert_repository.hpp"

namespace sp::alerts {

/// Most event ids one POST /api/events/ack may name.
inline constexpr std::size_t kMaxAckIds = 500;

struct EventPage {
  std::vector<EventView> items;
  std::optional<EventKey> next;  // set when another page exists
};

struct AlertPage {
  std::vector<AlertRecord> items;
  std::optional<AlertKey> next;
};

class AlertService {
 public:
  /// Ok when the caller may read the device (its owner, a former owner, an admin); else the
  /// devices module's error (404 MissingDevice, 403 DeviceAccessDenied).
  using DeviceAccess =
      std::function<Result<void>(const devices::Caller& caller, const std::string& device_id)>;

  /// Publishes events::AlertsChanged on `bus` after every committed change of a user's alerts.
  AlertService(store::AlertRepository& repo, const Clock& clock, EventBus& bus,
               DeviceAccess access);

  /// GET /api/events: the caller's own events (optionally of one device and/or type).
  Result<EventPage> my_events(const devices::Caller& caller,
                              const std::optional<std::string>& device_id,
                              const std::optional<std::string>& type, int limit,
                              const std::optional<EventKey>& after);
  /// GET /api/devices/{id}/events.
  Result<EventPage> device_events(const devices::Caller& caller, const std::string& device_id,
                                  const std::optional<std::string>& type, int limit,
                                  const std::optional<EventKey>& after);
  /// GET /api/devices/{id}/events/{eventId}: 404 MissingEvent when unknown or not the caller's.
  Result<EventView> event(const devices::Caller& caller, const std::string& device_id,
                          const std::string& event_id);
  /// PUT/PATCH /api/devices/{id}/events/{eventId}: keys left out stay unchanged. ack true also
  /// acknowledges the event's alert group (and the group's events). suppress true with an optional
  /// suppress_until_ms (must be in the future, 422 otherwise) stops alerts and notifications of
  /// the owner's device + type; suppress false lifts that.
  Result<EventView> update_event(const devices::Caller& caller, const std::string& device_id,
                                 const std::string& event_id, const EventChange& change);
  /// POST /api/events/ack {"ids": [...]}: the caller's events among `ids` (an admin's: any).
  Result<AckResult> ack(const devices::Caller& caller, const std::vector<std::string>& ids);
  /// POST /api/events/ack {"all": true, "eventType"?}: every unread event of the caller.
  Result<AckResult> ack_all(const devices::Caller& caller, const std::optional<std::string>& type);

  /// Acknowledges every administrator's copy of the system event `message_id` (and its alert
  /// group): the condition it announced is over (a detection violation cleared).
  Result<AckResult> resolve_system_event(const std::string& message_id);
  /// GET /api/alerts: the caller's open alert groups of their alertLevel types (only `type`
  /// when given: empty when it is not one of their alertLevel types).
  Result<AlertPage> alerts(const devices::Caller& caller, int limit,
                           const std::optional<AlertKey>& after,
                           const std::optional<std::string>& type = std::nullopt);
  /// GET /api/alerts/count.
  Result<std::int64_t> count(const devices::Caller& caller);

 private:
  Result<EventPage> events_page(store::EventListQuery query);
  void announce(const AckResult& changed);

  store::AlertRepository& repo_;
  const Clock& clock_;
  EventBus& bus_;
  DeviceAccess access_;
};

}  // namespace sp::alerts
