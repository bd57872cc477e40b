#pragma once
// Ingest paths with a broker connection of their own, which the daemon can pause without holding
// up the other topics. A module registers one in build() through the service registry (the daemon
// provides OwnConnections); the daemon opens one more MQTT connection per entry, client id
// "<[broker] client_id>-<name>", subscribed to that filter only.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "smartproduct/mqtt/types.hpp"

namespace sp::mqtt {

/// Flow control of such a path. While paused the daemon keeps its connection closed: the broker
/// holds the path's QoS 1 messages in the connection's persistent session (not acknowledged, not
/// lost, up to mosquitto's max_queued_messages / max_queued_bytes) and delivers them on resume.
class IntakeSwitch {
 public:
  /// Thread-safe; tells the listener only on a change.
  void set_paused(bool paused) {
    std::function<void(bool)> listener;
    {
      std::lock_guard lock(mutex_);
      if (paused_.exchange(paused) == paused) return;
      listener = listener_;
    }
    if (listener) listener(paused);
  }
  bool paused() const { return paused_.load(); }
  /// The daemon's side: called on every change (from the thread that changed it).
  void on_change(std::function<void(bool paused)> listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
  }

 private:
  std::mutex mutex_;
  std::atomic<bool> paused_{false};
  std::function<void(bool)> listener_;
};

/// The paths registered so far (provided by the daemon before modules are built).
class OwnConnections {
 public:
  struct Entry {
    std::string name;
    std::string filter;
    int qos;
    MessageHandler handler;
    std::shared_ptr<IntakeSwitch> intake;
  };
  void add(Entry entry) { entries_.push_back(std::move(entry)); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace sp::mqtt
