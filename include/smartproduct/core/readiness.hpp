#pragma once
// Readiness reasons from modules: GET /readyz answers 503 with every reason any probe adds (besides
// the daemon's own: database, broker connection). The daemon provides one instance in the
// ServiceRegistry; a module adds a probe in build(). Probes run on HTTP worker threads.

#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sp {

class ReadinessProbes {
 public:
  /// Adds the reasons why the module cannot do its job right now (nothing when it can).
  using Probe = std::function<void(std::vector<std::string>& reasons)>;

  void add(Probe probe) {
    std::lock_guard lock(mutex_);
    probes_.push_back(std::move(probe));
  }
  /// Removes every probe (before the modules that added them are stopped).
  void clear() {
    std::lock_guard lock(mutex_);
    probes_.clear();
  }
  void report(std::vector<std::string>& reasons) const {
    std::lock_guard lock(mutex_);
    for (const auto& p : probes_) p(reasons);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Probe> probes_;
};

}  // namespace sp
