#include "net/http/dispatcher.hpp"

#include <exception>

#include <spdlog/spdlog.h>

namespace sp::http {
namespace {

Response method_not_allowed(const std::vector<std::string>& allowed) {
  std::string allow;
  for (const auto& method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  auto response = Response::error(ErrorKind::kMethodNotAllowed, "MethodNotAllowed",
                                  "method not allowed; allowed: " + allow);
  response.set_header("allow", allow);
  return response;
}

Response not_found() {
  return Response::error(ErrorKind::kNotFound, "NotFound", "no such resource");
}

bool is_get_or_head(std::string_view method) { return method == "GET" || method == "HEAD"; }

bool has_header(const Response& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return true;
  }
  return false;
}

}  // namespace

bool is_api_path(std::string_view path) { return path == "/api" || path.substr(0, 5) == "/api/"; }

void apply_security_headers(Response& response) {
  response.set_header("strict-transport-security", "max-age=31536000");
  response.set_header("x-content-type-options", "nosniff");
  response.set_header("x-frame-options", "DENY");
  response.set_header("referrer-policy", "no-referrer");
  for (const auto& [key, value] : response.headers) {
    if (key == "content-type" && value.rfind("text/html", 0) == 0) {
      response.set_header("content-security-policy",
                          "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                          "base-uri 'self'; form-action 'self'; frame-ancestors 'none'");
      break;
    }
  }
}

Dispatcher::Dispatcher(const ServerConfig& config, Router& router, ReadinessProbe probe)
    : router_(router), probe_(std::move(probe)), api_enabled_(config.api_enabled) {
  if (config.console_enabled && !config.web_root.empty()) files_.emplace(config.web_root);
}

Response Dispatcher::handle(Request& request) const noexcept {
  Response response;
  try {
    response = route(request);
  } catch (const std::exception& e) {
    spdlog::error("http: handler for {} {} threw: {}", request.method, request.path, e.what());
    response = Response::error(ErrorKind::kInternal, "InternalError", "internal server error");
  } catch (...) {
    spdlog::error("http: handler for {} {} threw a non-exception", request.method, request.path);
    response = Response::error(ErrorKind::kInternal, "InternalError", "internal server error");
  }
  try {
    // API answers carry credentials-derived data: keep them out of shared caches.
    if (is_api_path(request.path) && !has_header(response, "cache-control")) {
      response.set_header("cache-control", "no-store");
    }
    apply_security_headers(response);
  } catch (...) {
    // Only bad_alloc can get here; a response without extra headers beats a dead worker thread.
  }
  return response;
}

Response Dispatcher::route(Request& request) const {
  const std::string& path = request.path;
  if (path == "/healthz") {
    if (!is_get_or_head(request.method)) return method_not_allowed({"GET", "HEAD"});
    return Response::json(200, {{"status", "ok"}});
  }
  if (path == "/readyz") {
    if (!is_get_or_head(request.method)) return method_not_allowed({"GET", "HEAD"});
    std::vector<std::string> reasons;
    try {
      if (probe_) reasons = probe_();
    } catch (const std::exception& e) {
      reasons.push_back(std::string("readiness probe failed: ") + e.what());
    }
    if (reasons.empty()) return Response::json(200, {{"status", "ready"}});
    return Response::json(503, {{"code", 503},
                                {"error", "NotReady"},
                                {"message", "the service is not ready"},
                                {"reasons", reasons}});
  }

  const bool api = is_api_path(path);
  if (api && !api_enabled_) return not_found();

  // Non-API routes (e.g. /metrics) may be registered too; they take precedence over files.
  auto match = router_.match(request.method, path);
  if (match.handler) {
    request.params = std::move(match.params);
    return (*match.handler)(request);
  }
  if (match.path_known) return method_not_allowed(match.allowed);
  if (api || !files_) return not_found();
  if (!is_get_or_head(request.method)) return method_not_allowed({"GET", "HEAD"});
  return files_->serve(request);
}

}  // namespace sp::http
