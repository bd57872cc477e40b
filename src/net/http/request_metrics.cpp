#include "net/http/request_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

namespace sp::http {

RequestMetrics::~RequestMetrics() {
  auto drop = [](Route& route) {
    for (auto& slot : route.slots) delete slot.load();
  };
  for (std::size_t i = 0; i < kMaxRoutes; ++i) drop(table_[i]);
  for (auto& route : builtins_) drop(route);
}

RequestMetrics::Route* RequestMetrics::find_or_claim(std::string_view route) noexcept {
  for (std::size_t i = 0; i < kBuiltins.size(); ++i) {
    if (route == kBuiltins[i]) return &builtins_[i];
  }
  const char* key = route.data();
  const std::size_t start = std::hash<const void*>{}(key) % kMaxRoutes;
  for (std::size_t probe = 0; probe < kMaxRoutes; ++probe) {
    Route& r = table_[(start + probe) % kMaxRoutes];
    const char* have = r.key.load(std::memory_order_acquire);
    if (have == key) return &r;
    if (have == nullptr) {
      if (r.key.compare_exchange_strong(have, key, std::memory_order_acq_rel)) {
        r.size.store(route.size(), std::memory_order_release);
        return &r;
      }
      if (have == key) return &r;  // another thread claimed it for the same route
    }
  }
  return &builtins_.back();
}

void RequestMetrics::observe(std::string_view route, std::string_view method, int status,
                             std::chrono::nanoseconds duration) noexcept {
  Route& r = *find_or_claim(route);
  const auto m = static_cast<std::size_t>(std::find(kMethods.begin(), kMethods.end() - 1, method) -
                                          kMethods.begin());
  const auto status_class =
      static_cast<std::size_t>(std::clamp(status / 100, 1, static_cast<int>(kStatusClasses)) - 1);
  auto& slot = r.slots[m * kStatusClasses + status_class];
  Histogram* h = slot.load(std::memory_order_acquire);
  if (!h) {
    // First request of this combination: racing threads each build one, one wins.
    Histogram* fresh = nullptr;
    try {
      fresh = new Histogram();
    } catch (...) {
      return;  // out of memory: the request goes uncounted rather than failing
    }
    if (slot.compare_exchange_strong(h, fresh, std::memory_order_acq_rel)) {
      h = fresh;
    } else {
      delete fresh;
    }
  }
  h->observe(duration);
}

void RequestMetrics::report(std::vector<MetricSample>& out) const {
  auto report_route = [&](const Route& r, std::string_view label) {
    for (std::size_t i = 0; i < kSlots; ++i) {
      const Histogram* h = r.slots[i].load(std::memory_order_acquire);
      if (!h) continue;
      add_histogram(out, "smartproduct_http_request_duration_seconds",
                    "Time from a request's arrival at the dispatcher to its response, by route "
                    "pattern, method and status class",
                    *h,
                    fmt::format("route=\"{}\",method=\"{}\",status=\"{}xx\"", label,
                                kMethods[i / kStatusClasses], i % kStatusClasses + 1));
    }
  };
  for (std::size_t i = 0; i < kMaxRoutes; ++i) {
    const Route& r = table_[i];
    const char* key = r.key.load(std::memory_order_acquire);
    const std::size_t size = r.size.load(std::memory_order_acquire);
    if (key && size > 0) report_route(r, std::string_view(key, size));
  }
  for (std::size_t i = 0; i < kBuiltins.size(); ++i) report_route(builtins_[i], kBuiltins[i]);
}

}  // namespace sp::http
