// The alerts module: the seed's event routes (8, 11-13: GET /api/events, GET
// /api/devices/{id}/events[/{eventId}], PUT/PATCH .../events/{eventId}, POST /api/events/ack) and
// alert routes (9-10: GET /api/alerts, GET /api/alerts/count), and the [alerts] grouping window
// that the events module's store step applies in each event's transaction.
//
// Why a module apart from `events`: `events` is the ingest (its source is being replaced by the
// broker's spool); reading, acknowledging and suppressing is another concern with its own config
// section. The grouping itself stays in the events store step, so it commits with the event.

#include "smartproduct/alerts/module.hpp"

#include "dto.hpp"
#include "smartproduct/alerts/service.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/events/types.hpp"
#include "smartproduct/http/paging.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::alerts {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// A page of events resumes after {"t": device timestamp, "i": event id}.
std::optional<EventKey> event_key(const json& key) {
  const auto t = key.find("t");
  const auto i = key.find("i");
  if (t == key.end() || i == key.end() || !t->is_number_integer() || !i->is_string()) {
    return std::nullopt;
  }
  return EventKey{t->get<std::int64_t>(), i->get<std::string>()};
}

// A page of alerts resumes after {"s": last seen (epoch ms), "a": alert id}.
std::optional<AlertKey> alert_key(const json& key) {
  const auto s = key.find("s");
  const auto a = key.find("a");
  if (s == key.end() || a == key.end() || !s->is_number_integer() || !a->is_number_integer()) {
    return std::nullopt;
  }
  return AlertKey{s->get<std::int64_t>(), a->get<std::int64_t>()};
}

devices::Caller caller_of(const identity::Principal& p) { return {p.user_id, p.is_admin()}; }

// ?eventType=: absent or empty means every type; anything but the four types is 422.
Result<std::optional<std::string>> event_type_param(const Request& req) {
  auto t = req.query_param("eventType");
  if (!t || t->empty()) return std::optional<std::string>{};
  if (!events::is_event_type(*t)) {
    return fail(errors::kInvalidQuery, "eventType must be error, warning, info or diagnostic.");
  }
  return std::optional<std::string>(std::string(*t));
}

json events_page(const EventPage& page, const std::optional<std::string>& type) {
  json items = json::array();
  for (const auto& v : page.items) items.push_back(event_to_json(v));
  std::optional<json> next;
  if (page.next) next = json{{"t", page.next->timestamp_ms}, {"i", page.next->id}};
  json out = http::page_json(std::move(items), next);
  if (type) out["eventType"] = *type;  // the seed echoes its filters
  return out;
}

// {ack?, suppress?, suppressUntil?, id?}. The seed's console sends the event's "id" too; the path
// names the event, so an id that is not that one contradicts it and is refused.
Result<EventChange> event_change(const json& body, std::string_view path_id) {
  EventChange c;
  if (auto id = body.find("id"); id != body.end() && !id->is_null()) {
    if (!id->is_string() || id->get_ref<const std::string&>() != path_id) {
      return fail(errors::kInvalidField,
                  "id must be the event's id (the one in the path) or left out.");
    }
  }
  for (const char* key : {"ack", "suppress"}) {
    auto it = body.find(key);
    if (it == body.end()) continue;
    if (!it->is_boolean())
      return fail(errors::kInvalidField, std::string(key) + " must be true or false.");
    (std::string_view(key) == "ack" ? c.ack : c.suppress) = it->get<bool>();
  }
  if (auto u = body.find("suppressUntil"); u != body.end() && !u->is_null()) {
    if (u->is_number_integer()) {
      c.suppress_until_ms = u->get<std::int64_t>();
    } else if (u->is_string()) {
      c.suppress_until_ms = parse_iso8601_ms(u->get_ref<const std::string&>());
      if (!c.suppress_until_ms) {
        return fail(errors::kInvalidParameter,
                    "suppressUntil must be an ISO-8601 date-time with a zone or epoch ms.");
      }
    } else {
      return fail(errors::kInvalidField,
                  "suppressUntil must be an ISO-8601 string, epoch milliseconds or null.");
    }
    if (!c.suppress) c.suppress = true;  // a time to suppress until implies suppressing
  }
  return c;
}

json ack_json(const AckResult& r) {
  return {{"acknowledged", r.events}, {"alertsAcknowledged", r.alerts}};
}

class AlertsModule final : public Module {
 public:
  std::string_view name() const override { return "alerts"; }

  void configure(config::Section& section, const config::DaemonConfig&) override {
    grouping_.window_ms =
        section.integer("group_window_s", grouping_.window_ms / 1000, 1, 7 * 86400) * 1000;
    section.finish();
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    auto& devices = ctx.services.get<devices::DeviceService>();
    repo_ = sqlite::make_alert_repository(ctx.store.main_ptr());
    service_ = std::make_unique<AlertService>(
        *repo_, ctx.clock, ctx.bus,
        [&devices](const devices::Caller& caller, const std::string& device_id) -> Result<void> {
          auto reg = devices.device(caller, device_id);
          if (!reg) return tl::unexpected(reg.error());
          return {};
        });
    // The events module (after this one) applies it in its store step.
    ctx.services.provide<const Grouping>(grouping_);
    ctx.services.provide(*service_);
    return {};
  }

  void register_routes(http::Router& router) override {
    auto add = [&](const char* method, const char* path, auto member) {
      router.add(method, path,
                 auth_->protect([this, member](Request& req, const identity::Principal& p) {
                   return (this->*member)(req, p);
                 }));
    };
    add("GET", "/api/events", &AlertsModule::my_events);
    add("POST", "/api/events/ack", &AlertsModule::ack);
    add("GET", "/api/devices/{deviceId}/events", &AlertsModule::device_events);
    add("GET", "/api/devices/{deviceId}/events/{eventId}", &AlertsModule::get_event);
    add("PUT", "/api/devices/{deviceId}/events/{eventId}", &AlertsModule::update_event);
    add("PATCH", "/api/devices/{deviceId}/events/{eventId}", &AlertsModule::update_event);
    add("GET", "/api/alerts", &AlertsModule::alerts);
    add("GET", "/api/alerts/count", &AlertsModule::count);
  }

 private:
  Response my_events(Request& req, const identity::Principal& p) {
    auto type = event_type_param(req);
    if (!type) return Response::error(type.error());
    std::optional<std::string> device;
    if (auto d = req.query_param("deviceId"); d && !d->empty()) device = std::string(*d);
    auto page = http::parse_page<EventKey>(req, event_key);
    if (!page) return Response::error(page.error());
    auto rows = service_->my_events(caller_of(p), device, *type, page->limit, page->after);
    if (!rows) return Response::error(rows.error());
    json out = events_page(*rows, *type);
    if (device) out["deviceId"] = *device;
    return Response::json(200, out);
  }

  Response device_events(Request& req, const identity::Principal& p) {
    auto type = event_type_param(req);
    if (!type) return Response::error(type.error());
    auto page = http::parse_page<EventKey>(req, event_key);
    if (!page) return Response::error(page.error());
    auto rows = service_->device_events(caller_of(p), req.param("deviceId"), *type, page->limit,
                                        page->after);
    if (!rows) return Response::error(rows.error());
    return Response::json(200, events_page(*rows, *type));
  }

  Response get_event(Request& req, const identity::Principal& p) {
    auto e = service_->event(caller_of(p), req.param("deviceId"), req.param("eventId"));
    if (!e) return Response::error(e.error());
    return Response::json(200, event_to_json(*e));
  }

  Response update_event(Request& req, const identity::Principal& p) {
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto change = event_change(*body, req.param("eventId"));
    if (!change) return Response::error(change.error());
    auto e =
        service_->update_event(caller_of(p), req.param("deviceId"), req.param("eventId"), *change);
    if (!e) return Response::error(e.error());
    return Response::json(200, event_to_json(*e));
  }

  Response ack(Request& req, const identity::Principal& p) {
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    const auto ids = body->find("ids");
    const auto all = body->find("all");
    if ((ids == body->end()) == (all == body->end())) {
      return Response::error(errors::kInvalidParameter,
                             "Send either ids (a list of event ids) or all: true.");
    }
    if (all != body->end()) {
      if (!all->is_boolean()) return Response::error(errors::kInvalidField, "all must be true.");
      if (!all->get<bool>()) return Response::error(errors::kInvalidParameter, "all must be true.");
      std::optional<std::string> type;
      if (auto t = body->find("eventType"); t != body->end() && !t->is_null()) {
        if (!t->is_string()) {
          return Response::error(errors::kInvalidField, "eventType must be a string.");
        }
        if (!events::is_event_type(t->get_ref<const std::string&>())) {
          return Response::error(errors::kInvalidParameter,
                                 "eventType must be error, warning, info or diagnostic.");
        }
        type = t->get<std::string>();
      }
      auto r = service_->ack_all(caller_of(p), type);
      if (!r) return Response::error(r.error());
      return Response::json(200, ack_json(*r));
    }
    if (!ids->is_array()) return Response::error(errors::kInvalidField, "ids must be a list.");
    std::vector<std::string> list;
    for (const auto& id : *ids) {
      if (!id.is_string() || id.get_ref<const std::string&>().empty() ||
          id.get_ref<const std::string&>().size() > 128) {
        return Response::error(errors::kInvalidField, "ids must be event id strings.");
      }
      list.push_back(id.get<std::string>());
    }
    auto r = service_->ack(caller_of(p), list);
    if (!r) return Response::error(r.error());
    return Response::json(200, ack_json(*r));
  }

  Response alerts(Request& req, const identity::Principal& p) {
    auto page = http::parse_page<AlertKey>(req, alert_key);
    if (!page) return Response::error(page.error());
    auto type = event_type_param(req);
    if (!type) return Response::error(type.error());
    auto rows = service_->alerts(caller_of(p), page->limit, page->after, *type);
    if (!rows) return Response::error(rows.error());
    json items = json::array();
    for (const auto& a : rows->items) items.push_back(alert_to_json(a));
    std::optional<json> next;
    if (rows->next) next = json{{"s", rows->next->last_seen_at_ms}, {"a", rows->next->id}};
    json out = http::page_json(std::move(items), next);
    if (*type) out["eventType"] = **type;
    return Response::json(200, out);
  }

  Response count(Request&, const identity::Principal& p) {
    auto n = service_->count(caller_of(p));
    if (!n) return Response::error(n.error());
    return Response::json(200, json{{"alertsCount", *n}});
  }

  Grouping grouping_;
  const identity::Authenticator* auth_ = nullptr;
  std::unique_ptr<store::AlertRepository> repo_;
  std::unique_ptr<AlertService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<AlertsModule>(); }

}  // namespace sp::alerts
