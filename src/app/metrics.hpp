#pragma once
// GET /metrics: the Prometheus text format (version 0.0.4). The composition root knows every
// component, so it is the one place that can gather their samples.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
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

/// Renders samples grouped by name (HELP/TYPE written once per name); a histogram as cumulative
/// _bucket lines ending with le="+Inf", then _sum and _count.
std::string render_prometheus(const std::vector<MetricSample>& samples);

/// The fields of /proc/<pid>/stat the process metrics need.
struct ProcStat {
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t start_ticks = 0;  // after boot
  std::uint64_t vsize_bytes = 0;
  std::uint64_t rss_pages = 0;
};
/// Parses the content of /proc/<pid>/stat (the command name may hold spaces and parentheses).
std::optional<ProcStat> parse_proc_stat(std::string_view content);

/// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
/// process_open_fds, process_max_fds and process_start_time_seconds of this process, from /proc
/// (the names client libraries use, so stock dashboards work). Nothing when /proc is unreadable.
void report_process_metrics(std::vector<MetricSample>& out);

}  // namespace sp::app
