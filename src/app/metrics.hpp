#pragma once
// GET /metrics: counters in the Prometheus text format (version 0.0.4). The composition root knows
// every component, so it is the one place that can gather their counters.

#include <functional>
#include <string>
#include <vector>

#include "smartproduct/core/metrics.hpp"
#include "smartproduct/http/types.hpp"

namespace sp::app {

using MetricsSource = std::function<void(std::vector<MetricSample>&)>;

/// Registers GET /metrics, gathering from every source on each request.
void add_metrics_route(http::Router& router, std::vector<MetricsSource> sources);

/// Renders samples grouped by name (HELP/TYPE written once per name).
std::string render_prometheus(const std::vector<MetricSample>& samples);

}  // namespace sp::app
