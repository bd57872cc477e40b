#pragma once
// HTTP request duration histograms labelled by route pattern (never the raw path: the label set is
// bounded by the routes registered at startup), method and status class. Observing takes no lock:
// routes are found in a fixed open-addressing table keyed by the address of the pattern string
// (the router's, stable for its lifetime), claimed with a compare-and-swap on first use, and each
// histogram is created on first use the same way. A streamed body (Response::stream) is timed up
// to its headers: the dispatcher sees the handler return, not the last chunk.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "smartproduct/core/histogram.hpp"
#include "smartproduct/core/metrics.hpp"

namespace sp::http {

/// Route labels of requests no registered pattern answers (matched by content).
inline constexpr std::string_view kHealthzRoute = "/healthz";
inline constexpr std::string_view kReadyzRoute = "/readyz";
inline constexpr std::string_view kStaticRoute = "static";        // the console's files
inline constexpr std::string_view kUnmatchedRoute = "unmatched";  // 404/405 without a route

class RequestMetrics {
 public:
  RequestMetrics() = default;
  ~RequestMetrics();
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  /// Counts one request. `route` is one of the labels above or a router pattern, whose string
  /// must outlive this object (its address is the key); a method outside the common ones counts
  /// as "other".
  void observe(std::string_view route, std::string_view method, int status,
               std::chrono::nanoseconds duration) noexcept;

  /// smartproduct_http_request_duration_seconds{route,method,status}, for the label combinations
  /// that have seen a request.
  void report(std::vector<MetricSample>& out) const;

  /// More distinct routes than this count under kUnmatchedRoute (the router has ~150).
  static constexpr std::size_t kMaxRoutes = 1024;

 private:
  static constexpr std::array<std::string_view, 8> kMethods = {
      "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};
  static constexpr std::size_t kStatusClasses = 5;  // 1xx .. 5xx
  static constexpr std::size_t kSlots = kMethods.size() * kStatusClasses;
  static constexpr std::array<std::string_view, 4> kBuiltins = {kHealthzRoute, kReadyzRoute,
                                                                kStaticRoute, kUnmatchedRoute};

  struct Route {
    std::atomic<const char*> key{nullptr};  // the route string's address; null: free entry
    std::atomic<std::size_t> size{0};       // its length, published after the key
    std::array<std::atomic<Histogram*>, kSlots> slots{};
  };
  Route* find_or_claim(std::string_view route) noexcept;

  std::unique_ptr<Route[]> table_ = std::make_unique<Route[]>(kMaxRoutes);
  std::array<Route, kBuiltins.size()> builtins_;  // by kBuiltins; the last is kUnmatchedRoute
};

}  // namespace sp::http
