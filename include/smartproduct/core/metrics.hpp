#pragma once
// A metric sample as modules report it (Module::report_metrics); GET /metrics renders them in the
// Prometheus text format.

#include <string>
#include <vector>

namespace sp {

/// One sample: name (with the smartproduct_ prefix), optional labels "k=\"v\"", help, type, value.
struct MetricSample {
  std::string name;
  std::string labels;
  std::string help;
  std::string type;  // counter | gauge
  double value = 0;
};

/// Adds a counter / gauge sample.
inline void add_counter(std::vector<MetricSample>& out, std::string name, std::string help,
                        double value, std::string labels = {}) {
  out.push_back({std::move(name), std::move(labels), std::move(help), "counter", value});
}
inline void add_gauge(std::vector<MetricSample>& out, std::string name, std::string help,
                      double value, std::string labels = {}) {
  out.push_back({std::move(name), std::move(labels), std::move(help), "gauge", value});
}

}  // namespace sp
