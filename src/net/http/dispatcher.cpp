#include "net/http/dispatcher.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <random>

#include <spdlog/spdlog.h>

#include "smartproduct/core/logging.hpp"
#include "smartproduct/http/errors.hpp"

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

// The 500 for an exception that escaped a handler; `what` is only logged (via Response::cause).
Response thrown(const char* what) noexcept {
  try {
    auto response = Response::error(ErrorKind::kInternal, "InternalError", "internal server error");
    response.cause = what ? std::string("the handler threw: ") + what
                          : std::string("the handler threw a non-exception");
    return response;
  } catch (...) {
    Response bare;  // out of memory: a bodiless 500 still answers the client
    bare.status = 500;
    return bare;
  }
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

bool is_sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > logging::kMaxRequestIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string new_request_id() {
  // Ids only correlate log lines; they are not secrets, so a per-thread PRNG seeded once from the
  // OS is enough and keeps the CSPRNG off the request path.
  thread_local std::mt19937_64 rng{[] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  }()};
  constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t v = rng();
  std::string id(16, '0');
  for (auto& c : id) {
    c = kHex[v & 0xf];
    v >>= 4;
  }
  return id;
}

std::string request_id_for(const Request& request) {
  if (auto given = request.header("x-request-id"); given && is_sane_request_id(*given)) {
    return std::string(*given);
  }
  return new_request_id();
}

std::string http_date(std::time_t epoch_s) {
  // Fixed English names: strftime's %a/%b would follow the process locale.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  ::gmtime_r(&epoch_s, &tm);
  char text[32];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return text;
}

void apply_security_headers(Response& response) {
  // RFC 9110 6.6.1: a server with a clock sends Date (smartproductctl doctor checks skew with it).
  response.set_header("date", http_date(std::time(nullptr)));
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
    : router_(router),
      probe_(std::move(probe)),
      api_enabled_(config.api_enabled),
      public_admission_(config.public_admission) {
  if (config.console_enabled && !config.web_root.empty()) files_.emplace(config.web_root);
}

std::string_view Dispatcher::route_label(const Request& request, std::string_view pattern) const {
  if (!pattern.empty()) return pattern;  // the router's own string: stable, a bounded set
  if (request.path == kHealthzRoute) return kHealthzRoute;
  if (request.path == kReadyzRoute) return kReadyzRoute;
  if (!is_api_path(request.path) && files_ && is_get_or_head(request.method)) return kStaticRoute;
  return kUnmatchedRoute;
}

Response Dispatcher::handle(Request& request) const noexcept {
  const auto started = std::chrono::steady_clock::now();
  Response response;
  std::string id;
  std::string_view pattern;
  try {
    id = request_id_for(request);
  } catch (...) {
    // bad_alloc only: the request goes on without an id rather than failing.
  }
  logging::RequestIdScope scope(id);
  try {
    response = route(request, pattern);
  } catch (const std::exception& e) {
    response = thrown(e.what());
  } catch (...) {
    response = thrown(nullptr);
  }
  try {
    // The one place a 5xx is logged (handlers return errors and do not log them); the request
    // id is on the line through the scope above.
    if (response.status >= 500) {
      // 503 is an expected state (not ready, a dependency down), 500 is a bug.
      spdlog::log(response.status == 503 ? spdlog::level::warn : spdlog::level::err,
                  "http: {} {} answered {}: {}", request.method,
                  pattern.empty() ? std::string_view(request.path) : pattern, response.status,
                  response.cause.empty() ? std::string_view("(no cause given)")
                                         : std::string_view(response.cause));
    }
    response.cause.clear();
    // API answers carry credentials-derived data: keep them out of shared caches.
    if (is_api_path(request.path) && !has_header(response, "cache-control")) {
      response.set_header("cache-control", "no-store");
    }
    if (!id.empty()) response.set_header("x-request-id", std::move(id));
    apply_security_headers(response);
  } catch (...) {
    // Only bad_alloc can get here; a response without extra headers beats a dead worker thread.
  }
  metrics_.observe(route_label(request, pattern), request.method, response.status,
                   std::chrono::steady_clock::now() - started);
  return response;
}

// Served by the api module without authentication (the router knows it by this pattern).
constexpr std::string_view kOpenApiRoute = "/api/openapi.json";

std::optional<Response> Dispatcher::refuse_public(const Request& request) const {
  if (!public_admission_) return std::nullopt;
  const std::int64_t wait = public_admission_(request);
  if (wait <= 0) return std::nullopt;
  auto r =
      Response::error(errors::kTooManyAttempts, "Too many requests; please wait and try again.");
  r.set_header("retry-after", std::to_string(wait));
  return r;
}

Response Dispatcher::route(Request& request, std::string_view& pattern) const {
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
    auto response = Response::json(503, {{"code", 503},
                                         {"error", "NotReady"},
                                         {"message", "the service is not ready"},
                                         {"reasons", reasons}});
    response.cause = "not ready: " + reasons.front();
    return response;
  }

  const bool api = is_api_path(path);
  if (api && !api_enabled_) return not_found();

  // Non-API routes (e.g. /metrics) may be registered too; they take precedence over files.
  auto match = router_.match(request.method, path);
  pattern = match.pattern;
  if (match.handler) {
    request.params = std::move(match.params);
    // The one API route no module authenticates or limits (the auth routes limit themselves).
    if (pattern == kOpenApiRoute) {
      if (auto refused = refuse_public(request)) return std::move(*refused);
    }
    return (*match.handler)(request);
  }
  if (match.path_known) return method_not_allowed(match.allowed);
  if (api || !files_) return not_found();
  if (!is_get_or_head(request.method)) return method_not_allowed({"GET", "HEAD"});
  if (auto refused = refuse_public(request)) return std::move(*refused);
  return files_->serve(request);
}

}  // namespace sp::http
