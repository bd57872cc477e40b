#pragma once
// Request dispatch without any wire concerns (no Beast): built-in probes, the router, the static
// console, JSON errors, security headers, request ids and the one log line of every 5xx. The
// server calls handle() on a worker thread.

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/http/request_metrics.hpp"
#include "net/http/server.hpp"
#include "net/http/static_files.hpp"
#include "smartproduct/http/types.hpp"

namespace sp::http {

class Dispatcher {
 public:
  /// Reads api_enabled, console_enabled and web_root from `config`.
  Dispatcher(const ServerConfig& config, Router& router, ReadinessProbe probe);

  /// Produces the response for a request whose path and query are already parsed. Never throws:
  /// an exception from a handler or the probe becomes a 500. Security headers and X-Request-Id
  /// are applied; the handler runs inside a logging::RequestIdScope, and every 5xx is logged
  /// here, once, with the request id, method, route pattern (or path) and cause.
  /// Also times it into request_metrics() under its route pattern.
  Response handle(Request& request) const noexcept;

  const RequestMetrics& request_metrics() const { return metrics_; }

 private:
  Response route(Request& request, std::string_view& pattern) const;
  // A 429 when config.public_admission refuses a request (console files, the OpenAPI document).
  std::optional<Response> refuse_public(const Request& request) const;
  // The metrics label of a request: its route pattern, a built-in path, or a fixed name.
  std::string_view route_label(const Request& request, std::string_view pattern) const;

  Router& router_;
  mutable RequestMetrics metrics_;  // atomics only: observing from const handle() is safe
  ReadinessProbe probe_;
  bool api_enabled_;
  std::function<std::int64_t(const Request&)> public_admission_;
  std::optional<StaticFiles> files_;  // empty when the console is disabled
};

/// Adds Date, HSTS, nosniff, frame and referrer policies to every response, and a CSP to HTML.
void apply_security_headers(Response& response);

/// `epoch_s` as an HTTP date (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT").
std::string http_date(std::time_t epoch_s);

/// True for "/api" and everything below it: those paths never reach the static console.
bool is_api_path(std::string_view path);

/// True for a client request id worth keeping: 1..64 characters of [A-Za-z0-9._-] (nothing that
/// could forge a log line or a header).
bool is_sane_request_id(std::string_view id);

/// The id of a request: the client's X-Request-Id when sane, else a new random one (16 hex).
std::string request_id_for(const Request& request);
/// A new random request id (16 lower-case hex characters).
std::string new_request_id();

}  // namespace sp::http
