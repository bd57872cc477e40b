#pragma once
// Which devices' telemetry anyone is watching live. TelemetryStored is built for every message
// only when someone needs them all; a subscriber that wants only some devices (the live module:
// a console that opened a device's page) turns filtering on and says which devices it watches,
// so ingest stays as cheap as with no subscriber while nobody watches.

#include <atomic>
#include <cstddef>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace sp::telemetry {

class TelemetryWatch {
 public:
  /// A subscriber of TelemetryStored that needs only watched devices (before the bus starts).
  void filter_by_device() { filtering_ = true; }
  /// A subscriber of TelemetryStored that needs every message (before the bus starts).
  void want_all() { all_ = true; }

  /// One more watcher of `device_id` (counted: watch twice, unwatch twice).
  void watch(const std::string& device_id) {
    std::unique_lock lock(mutex_);
    if (watched_[device_id]++ == 0) count_.fetch_add(1, std::memory_order_relaxed);
  }
  void unwatch(const std::string& device_id) {
    std::unique_lock lock(mutex_);
    auto it = watched_.find(device_id);
    if (it == watched_.end()) return;
    if (--it->second == 0) {
      watched_.erase(it);
      count_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  /// Whether a TelemetryStored for `device_id` is needed (given the bus has a subscriber).
  /// One atomic load while nobody watches.
  bool wanted(const std::string& device_id) const {
    if (!filtering_ || all_) return true;
    if (count_.load(std::memory_order_relaxed) == 0) return false;
    std::shared_lock lock(mutex_);
    return watched_.count(device_id) != 0;
  }

  /// Devices watched now.
  std::size_t watched_devices() const { return count_.load(std::memory_order_relaxed); }

 private:
  bool filtering_ = false;
  bool all_ = false;
  std::atomic<std::size_t> count_{0};
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::size_t> watched_;
};

}  // namespace sp::telemetry
