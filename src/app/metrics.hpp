#pragma once
// GET /metrics: counters in the Prometheus text format (version 0.0.4). The composition root knows
// every component, so it is the one place that can gather their counters.

#include <functional>
#include <string>
#include <vector>

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/metrics.hpp"
#include "smartproduct/http/types.hpp"

namespace sp::app {

using MetricsSource = std::function<void(std::vector<MetricSample>&)>;

/// Registers GET /metrics, gathering from every source on each request, for the clients `access`
/// allows (401 Unauthorized otherwise, before anything is gathered).
void add_metrics_route(http::Router& router, std::vector<MetricsSource> sources,
                       config::MetricsSettings access);

/// True when the client may read the metrics: a loopback address (if allowed) or the bearer token.
bool metrics_access_allowed(const config::MetricsSettings& access, const http::Request& request);

/// Renders samples grouped by name (HELP/TYPE written once per name).
std::string render_prometheus(const std::vector<MetricSample>& samples);

}  // namespace sp::app
