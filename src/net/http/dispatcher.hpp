#pragma once
// Request dispatch without any wire concerns (no Beast): built-in probes, the router, the static
// console, JSON errors and security headers. The server calls handle() on a worker thread.

#include <memory>
#include <optional>

#include "net/http/server.hpp"
#include "net/http/static_files.hpp"
#include "smartproduct/http/types.hpp"

namespace sp::http {

class Dispatcher {
 public:
  /// Reads api_enabled, console_enabled and web_root from `config`.
  Dispatcher(const ServerConfig& config, Router& router, ReadinessProbe probe);

  /// Produces the response for a request whose path and query are already parsed. Never throws:
  /// an exception from a handler or the probe becomes a logged 500. Security headers are applied.
  Response handle(Request& request) const noexcept;

 private:
  Response route(Request& request) const;

  Router& router_;
  ReadinessProbe probe_;
  bool api_enabled_;
  std::optional<StaticFiles> files_;  // empty when the console is disabled
};

/// Adds HSTS, nosniff, frame and referrer policies to every response, and a CSP to HTML.
void apply_security_headers(Response& response);

/// True for "/api" and everything below it: those paths never reach the static console.
bool is_api_path(std::string_view path);

}  // namespace sp::http
