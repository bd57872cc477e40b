#include "smartproduct/devices/routes.hpp"

#include <cctype>
#include <charconv>

#include "smartproduct/http/paging.hpp"

namespace sp::devices {
namespace {

using http::Request;
using http::Response;
using identity::Principal;
using nlohmann::json;

Caller caller_of(const Principal& p) { return Caller{p.user_id, p.is_admin()}; }

// GET /api/devices resumes after a registration id: {"r": id}.
std::optional<std::int64_t> device_key(const json& key) {
  const auto it = key.find("r");
  if (it == key.end() || !it->is_number_integer()) return std::nullopt;
  const auto id = it->get<std::int64_t>();
  if (id < 0) return std::nullopt;
  return id;
}

// The security events resume before an event id: {"b": id}.
std::optional<std::int64_t> event_key(const json& key) {
  const auto it = key.find("b");
  if (it == key.end() || !it->is_number_integer()) return std::nullopt;
  const auto id = it->get<std::int64_t>();
  if (id < 1) return std::nullopt;
  return id;
}

// A search error; a syntax error carries where it is ({"position": offset}).
Response search_error(const SearchError& e) {
  auto r = Response::error(e.error);
  if (e.position) {
    auto body = json::parse(r.body, nullptr, false);
    if (body.is_object()) {
      body["position"] = *e.position;
      r.body = body.dump();
    }
  }
  return r;
}

// GET /api/devices?q= resumes after a device id: {"t": thingName}.
std::optional<std::string> search_key(const json& key) {
  const auto it = key.find("t");
  if (it == key.end() || !it->is_string() || !catalog::valid_device_id(it->get<std::string>())) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

Response search_devices(FleetSearch& search, const Request& req, const Caller& caller,
                        std::string_view text) {
  auto page = http::parse_page<std::string>(req, search_key);
  if (!page) return Response::error(page.error());
  auto rows = search.search(caller, text, page->limit, page->after);
  if (!rows) return search_error(rows.error());
  json items = json::array();
  for (const auto& d : rows->items) items.push_back(device_to_json(d));
  std::optional<json> next;
  if (rows->next_after) next = json{{"t", *rows->next_after}};
  return Response::json(200, http::page_json(std::move(items), next));
}

Response aggregate_devices(FleetSearch& search, const Request& req, const Caller& caller) {
  const std::string_view type = req.query_param("type").value_or("count");
  auto result = search.aggregate(caller, req.query_param("q").value_or(""), type,
                                 req.query_param("field").value_or(""));
  if (!result) return search_error(result.error());
  const auto kind = type == "stats"         ? store::AggregateType::kStats
                    : type == "cardinality" ? store::AggregateType::kCardinality
                                            : store::AggregateType::kCount;
  return Response::json(200, aggregate_to_json(kind, *result));
}

Response list_devices(DeviceService& service, FleetSearch& search, const Request& req,
                      const Caller& caller) {
  if (auto q = req.query_param("q"); q && q->find_first_not_of(" \t\r\n") != q->npos) {
    return search_devices(search, req, caller, *q);
  }
  if (!req.query_param("limit") && !req.query_param(http::kCursorParam)) {
    // The seed's shape: a bare array of every device (the seed paged it wrongly, §3.3 (5)).
    auto all = service.all_devices(caller);
    if (!all) return Response::error(all.error());
    json items = json::array();
    for (const auto& d : *all) items.push_back(device_to_json(d));
    return Response::json(200, items);
  }
  auto page = http::parse_page<std::int64_t>(req, device_key);
  if (!page) return Response::error(page.error());
  auto rows = service.list_devices(caller, page->limit, page->after);
  if (!rows) return Response::error(rows.error());
  json items = json::array();
  for (const auto& d : rows->items) items.push_back(device_to_json(d));
  std::optional<json> next;
  if (rows->next_after_id) next = json{{"r", *rows->next_after_id}};
  return Response::json(200, http::page_json(std::move(items), next));
}

// Pages with the common helper ({Items, Count, LastEvaluatedKey?} and `lastevalkey`). The console
// still sends `before` (a plain event id) and reads `next`: both stay until it moves over.
Response security_events(DeviceService& service, const Request& req, const Caller& caller) {
  auto page = http::parse_page<std::int64_t>(req, event_key);
  if (!page) return Response::error(page.error());
  std::optional<std::int64_t> before = page->after;
  if (auto b = req.query_param("before")) {  // `before=` (empty) is an error, as `limit=` is
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(b->data(), b->data() + b->size(), v);
    if (ec != std::errc() || p != b->data() + b->size() || v < 1) {
      return Response::error(http::invalid_cursor("before").value());
    }
    before = v;
  }
  std::string device_id;
  if (auto d = req.query_param("deviceId"); d && !d->empty()) {
    if (!catalog::valid_device_id(*d)) {
      return Response::error(errors::kInvalidDeviceId);
    }
    device_id = std::string(*d);
  }
  // One row more than the page tells whether another page exists.
  auto rows = service.security_events(caller, page->limit + 1, before, device_id);
  if (!rows) return Response::error(rows.error());
  const bool more = static_cast<int>(rows->size()) > page->limit;
  if (more) rows->resize(static_cast<std::size_t>(page->limit));
  json items = json::array();
  for (const auto& e : *rows) items.push_back(security_event_to_json(e));
  std::optional<json> next;
  if (more) next = json{{"b", rows->back().id}};
  json out = http::page_json(std::move(items), next);
  if (more) out["next"] = rows->back().id;
  return Response::json(200, out);
}

}  // namespace

void add_device_routes(http::Router& router, DeviceService& service, FleetSearch& search,
                       const identity::Authenticator& auth) {
  DeviceService* s = &service;
  FleetSearch* fs = &search;
  router.add("POST", "/api/registration", auth.protect([s](Request& req, const Principal& p) {
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto request = registration_from_json(*body);
    if (!request) return Response::error(request.error());
    auto reg = s->register_device(caller_of(p), *request);
    if (!reg) {
      auto r = Response::error(reg.error());
      if (reg.error().kind == ErrorKind::kRateLimited) {
        r.set_header("retry-after", std::to_string(std::max(
                                        1, s->claim_retry_after_s(p.user_id, request->device_id))));
      }
      return r;
    }
    return Response::json(200, registration_to_json(*reg));
  }));
  router.add("GET", "/api/registration", auth.protect([s](Request&, const Principal& p) {
    auto rows = s->registrations(caller_of(p));
    if (!rows) return Response::error(rows.error());
    json out = json::array();
    for (const auto& r : *rows) out.push_back(registration_to_json(r));
    return Response::json(200, out);
  }));
  router.add("GET", "/api/devices", auth.protect([s, fs](Request& req, const Principal& p) {
    return list_devices(*s, *fs, req, caller_of(p));
  }));
  // A literal segment: the router matches it before /api/devices/{deviceId}.
  router.add("GET", "/api/devices/aggregate", auth.protect([fs](Request& req, const Principal& p) {
    return aggregate_devices(*fs, req, caller_of(p));
  }));
  router.add("GET", "/api/devices/{deviceId}", auth.protect([s](Request& req, const Principal& p) {
    auto reg = s->device(caller_of(p), req.param("deviceId"));
    if (!reg) return Response::error(reg.error());
    return Response::json(200, registration_to_json(*reg));
  }));
  router.add("DELETE", "/api/devices/{deviceId}",
             auth.protect([s](Request& req, const Principal& p) {
               auto r = s->delete_device(caller_of(p), req.param("deviceId"));
               if (!r) return Response::error(r.error());
               return Response::json(200, "Delete successful");  // the seed's body
             }));
  router.add("GET", "/api/devices/{deviceId}/certificates",
             auth.protect([s](Request& req, const Principal& p) {
               auto certs = s->certificates(caller_of(p), req.param("deviceId"));
               if (!certs) return Response::error(certs.error());
               json items = json::array();
               for (const auto& c : *certs) items.push_back(certificate_to_json(c));
               return Response::json(200, json{{"Items", std::move(items)}});
             }));
  router.add("POST", "/api/devices/{deviceId}/certificates/{fingerprint}/revoke",
             auth.protect([s](Request& req, const Principal& p) {
               auto cert = s->revoke_certificate(caller_of(p), req.param("deviceId"),
                                                 req.param("fingerprint"));
               if (!cert) return Response::error(cert.error());
               return Response::json(200, certificate_to_json(*cert));
             }));
  router.add("GET", "/api/admin/security-events",
             auth.protect_admin([s](Request& req, const Principal& p) {
               return security_events(*s, req, caller_of(p));
             }));
}

namespace {

// The host part of a Host header: "h", "h:8443", "[::1]:8443" -> "h", "h", "::1". Empty when it
// holds anything but host-name / address characters (it is echoed into commands users copy).
std::string host_of(std::string_view header) {
  std::string_view host = header;
  if (!host.empty() && host.front() == '[') {
    const auto end = host.find(']');
    host = end == std::string_view::npos ? std::string_view() : host.substr(1, end - 1);
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  for (char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':') {
      return {};
    }
  }
  return std::string(host);
}

}  // namespace

void add_connection_info_route(http::Router& router, ConnectionInfo info,
                               const identity::Authenticator& auth) {
  router.add("GET", "/api/connection-info",
             auth.protect([info = std::move(info)](http::Request& req, const identity::Principal&) {
               std::string host = info.mqtt_host;
               if (host.empty()) host = host_of(req.header("host").value_or(""));
               if (host.empty()) host = "localhost";
               return http::Response::json(200, {{"mqttHost", host},
                                                 {"mqttPort", info.mqtt_port},
                                                 {"rootCaPem", info.root_ca_pem},
                                                 {"telemetryTopic", info.telemetry_topic},
                                                 {"eventTopic", info.event_topic}});
             }));
}

}  // namespace sp::devices
