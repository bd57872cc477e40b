#pragma once
// The daemon's HTTPS server (Boost.Beast behind a pimpl: this header includes no Beast or Asio, so
// the composition root in src/app can include it).
//
// Wire behaviour: TLS 1.2+ only, HTTP/1.1 keep-alive, request limits (431/413/400 as JSON), read
// and idle timeouts, a connection cap, handlers on a worker pool, JSON errors for every failure,
// built-in /healthz and /readyz, the static console with an SPA fallback, and security headers on
// every response. See src/net/http/README.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "smartproduct/core/metrics.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/http/types.hpp"

namespace sp::http {

/// Returns the reasons the daemon is not ready (database closed, broker unreachable...); an empty
/// list means ready. Called on a worker thread for every GET /readyz; it may block briefly.
using ReadinessProbe = std::function<std::vector<std::string>()>;

struct ServerConfig {
  std::string listen = "0.0.0.0";  // IPv4 or IPv6 literal
  std::uint16_t port = 8443;       // 0 picks a free port (tests); HttpServer::port() tells which
  std::filesystem::path cert;      // PEM certificate chain, leaf first
  std::filesystem::path key;       // PEM private key
  std::size_t max_body_bytes = 65536;
  std::size_t max_header_bytes = 16384;
  std::chrono::seconds read_timeout{15};  // TLS handshake, and a request's head + body from its
                                          // first byte; also bounds writing a response
  std::chrono::seconds idle_timeout{75};  // between keep-alive requests
  std::size_t max_connections = 1024;     // further connections are closed at once
  unsigned worker_threads = 4;            // route handlers (may block)
  unsigned io_threads = 1;                // TLS and HTTP parsing
  std::filesystem::path web_root;         // the console's files
  bool console_enabled = true;
  bool api_enabled = true;
  /// Admission of the requests no route authenticates and no module limits itself: the console's
  /// files and /api/openapi.json. 0 serves the request; n > 0 answers 429 with Retry-After n.
  /// Empty: no limit.
  std::function<std::int64_t(const Request&)> public_admission;
};

class HttpServer {
 public:
  /// `router` must outlive the server and is not modified after start().
  HttpServer(ServerConfig config, Router& router, ReadinessProbe probe);
  ~HttpServer();  // stop(0s) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Loads the certificate, binds and listens, starts the I/O and worker threads. Fails (never
  /// throws) with "TlsConfigError" for an unreadable/mismatched cert or key, "ListenError" for a
  /// bad address or a port in use, and "AlreadyStarted" when called twice.
  Result<void> start();

  /// Graceful stop: stops accepting, closes idle connections, lets requests being handled finish
  /// and be written (with Connection: close), then waits up to `grace` for connections to end and
  /// cuts the rest. Waits for running handlers to return. Safe to call more than once; must not be
  /// called from a handler.
  void stop(std::chrono::milliseconds grace);

  /// Re-reads cert and key (SIGHUP). New connections use the new certificate; existing ones keep
  /// theirs. On failure the old certificate stays in use and the error is returned.
  Result<void> reload_certificates();

  /// The bound port (after start()), e.g. the one chosen for port 0.
  std::uint16_t port() const;

  /// Adds smartproduct_http_request_duration_seconds (per route pattern, method, status class),
  /// the open connection counts and the WebSocket send queue depths (sum and longest).
  void report_metrics(std::vector<MetricSample>& out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::http
