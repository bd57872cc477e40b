#include "smartproduct/alerts/service.hpp"

#include "smartproduct/events/events.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/http/errors.hpp"

namespace sp::alerts {

AlertService::AlertService(store::AlertRepository& repo, const Clock& clock, EventBus& bus,
                           DeviceAccess access)
    : repo_(repo), clock_(clock), bus_(bus), access_(std::move(access)) {}

namespace {

// Pages ask the store for one row more than they return: its presence says another page exists.
template <class Key, class Row, class KeyOf>
std::optional<Key> trim_page(std::vector<Row>& rows, int limit, KeyOf key_of) {
  if (rows.size() <= static_cast<std::size_t>(limit)) return std::nullopt;
  rows.resize(static_cast<std::size_t>(limit));
  return key_of(rows.back());
}

EventKey event_key(const EventView& v) { return {v.event.timestamp_ms, v.event.id}; }

bool visible(const devices::Caller& caller, const EventView& v) {
  return caller.admin || (v.event.user_id && *v.event.user_id == caller.user_id);
}

tl::unexpected<Error> missing_event(const std::string& device_id, const std::string& event_id) {
  return fail(errors::kMissingEvent,
              "The event \"" + event_id + "\" for device \"" + device_id + "\" does not exist.");
}

}  // namespace

Result<EventPage> AlertService::my_events(const devices::Caller& caller,
                                          const std::optional<std::string>& device_id,
                                          const std::optional<std::string>& type, int limit,
                                          const std::optional<EventKey>& after) {
  return events_page(store::EventListQuery{caller.user_id, device_id, type, limit, after});
}

Result<EventPage> AlertService::device_events(const devices::Caller& caller,
                                              const std::string& device_id,
                                              const std::optional<std::string>& type, int limit,
                                              const std::optional<EventKey>& after) {
  if (auto ok = access_(caller, device_id); !ok) return tl::unexpected(ok.error());
  store::EventListQuery q{std::nullopt, device_id, type, limit, after};
  if (!caller.admin) q.user_id = caller.user_id;
  return events_page(std::move(q));
}

Result<EventPage> AlertService::events_page(store::EventListQuery query) {
  const int limit = query.limit;
  query.limit = limit + 1;
  auto rows = repo_.events(query);
  if (!rows) return tl::unexpected(errors::from_store(rows.error()));
  EventPage page;
  page.next = trim_page<EventKey>(*rows, limit, event_key);
  page.items = std::move(*rows);
  return page;
}

Result<EventView> AlertService::event(const devices::Caller& caller, const std::string& device_id,
                                      const std::string& event_id) {
  if (auto ok = access_(caller, device_id); !ok) return tl::unexpected(ok.error());
  auto row = repo_.event(device_id, event_id);
  if (!row) return tl::unexpected(errors::from_store(row.error()));
  // Another owner's event of this device is as unknown to the caller as a missing one.
  if (!*row || !visible(caller, **row)) return missing_event(device_id, event_id);
  return std::move(**row);
}

Result<EventView> AlertService::update_event(const devices::Caller& caller,
                                             const std::string& device_id,
                                             const std::string& event_id,
                                             const EventChange& change) {
  const auto now = clock_.now_ms();
  if (change.suppress_until_ms) {
    if (!change.suppress || !*change.suppress) {
      return fail(errors::kInvalidParameter, "suppressUntil needs suppress true.");
    }
    if (*change.suppress_until_ms <= now) {
      return fail(errors::kInvalidParameter, "suppressUntil must be in the future.");
    }
  }
  auto current = event(caller, device_id, event_id);
  if (!current) return current;
  AckResult changed;
  auto updated = repo_.update_event(device_id, event_id, change, now, changed);
  if (!updated) return tl::unexpected(errors::from_store(updated.error()));
  if (!*updated) return missing_event(device_id, event_id);
  announce(changed);
  return std::move(**updated);
}

Result<AckResult> AlertService::ack(const devices::Caller& caller,
                                    const std::vector<std::string>& ids) {
  if (ids.empty() || ids.size() > kMaxAckIds) {
    return fail(errors::kInvalidParameter,
                "ids must list 1 to " + std::to_string(kMaxAckIds) + " event ids.");
  }
  std::optional<std::string> only;
  if (!caller.admin) only = caller.user_id;
  auto r = repo_.ack_events(ids, only, clock_.now_ms());
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  announce(*r);
  return r;
}

Result<AckResult> AlertService::resolve_system_event(const std::string& message_id) {
  auto r =
      repo_.ack_by_message_id(events::EventService::kSystemDevice, message_id, clock_.now_ms());
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  announce(*r);
  return r;
}

Result<AckResult> AlertService::ack_all(const devices::Caller& caller,
                                        const std::optional<std::string>& type) {
  auto r = repo_.ack_all(caller.user_id, type, clock_.now_ms());
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  announce(*r);
  return r;
}

Result<AlertPage> AlertService::alerts(const devices::Caller& caller, int limit,
                                       const std::optional<AlertKey>& after,
                                       const std::optional<std::string>& type) {
  auto settings = repo_.settings(caller.user_id);
  if (!settings) return tl::unexpected(errors::from_store(settings.error()));
  std::vector<std::string> types = settings->alert_level;
  if (type) std::erase_if(types, [&](const std::string& t) { return t != *type; });
  auto rows = repo_.alerts(caller.user_id, types, limit + 1, after);
  if (!rows) return tl::unexpected(errors::from_store(rows.error()));
  AlertPage page;
  page.next = trim_page<AlertKey>(*rows, limit, [](const AlertRecord& a) {
    return AlertKey{a.last_seen_at_ms, a.id};
  });
  page.items = std::move(*rows);
  return page;
}

Result<std::int64_t> AlertService::count(const devices::Caller& caller) {
  auto settings = repo_.settings(caller.user_id);
  if (!settings) return tl::unexpected(errors::from_store(settings.error()));
  auto n = repo_.count(caller.user_id, settings->alert_level);
  if (!n) return tl::unexpected(errors::from_store(n.error()));
  return *n;
}

void AlertService::announce(const AckResult& changed) {
  for (const auto& user : changed.users) bus_.publish(events::AlertsChanged{user});
}

}  // namespace sp::alerts
