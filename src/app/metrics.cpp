#include "app/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sp::app {

std::string render_prometheus(const std::vector<MetricSample>& unordered) {
  // The text format wants the samples of one family together; keep each family's own order.
  std::vector<MetricSample> samples = unordered;
  std::stable_sort(samples.begin(), samples.end(),
                   [](const MetricSample& a, const MetricSample& b) { return a.name < b.name; });
  std::string out;
  std::string last;
  for (const auto& s : samples) {
    if (s.name != last) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", s.name, s.help, s.name, s.type);
      last = s.name;
    }
    std::string value = std::floor(s.value) == s.value && std::fabs(s.value) < 1e15
                            ? fmt::format("{}", static_cast<int64_t>(s.value))
                            : fmt::format("{}", s.value);
    if (s.labels.empty()) {
      out += fmt::format("{} {}\n", s.name, value);
    } else {
      out += fmt::format("{}{{{}}} {}\n", s.name, s.labels, value);
    }
  }
  return out;
}

void add_metrics_route(http::Router& router, std::vector<MetricsSource> sources) {
  router.add("GET", "/metrics", [sources = std::move(sources)](http::Request&) {
    std::vector<MetricSample> samples;
    for (auto& source : sources) source(samples);
    http::Response r;
    r.status = 200;
    r.body = render_prometheus(samples);
    r.set_header("content-type", "text/plain; version=0.0.4; charset=utf-8");
    r.set_header("cache-control", "no-store");
    return r;
  });
}

}  // namespace sp::app
