#pragma once
// Device presence from the broker plugin's events ($SYS/smartproduct/presence/<cn>): who is
// connected, since when, from where, and the history of connections. Detects broker restarts by
// the plugin's epoch and rebuilds the state from the plugin's listConnected answer.

#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "smartproduct/broker/protocol.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/store/presence_repository.hpp"

namespace sp::presence {

// The broker plugin's topics (defined once, for the plugin and the daemon).
using broker::kBrokerTopic;
using broker::kControlResponseTopic;
using broker::kControlTopic;
using broker::kPresencePrefix;

class PresenceService {
 public:
  /// Every stored device event (connected, disconnected, rejected; also each client found by a
  /// resync) is published on `bus` as a ConnectionEvent once it is committed.
  PresenceService(store::PresenceRepository& repository, mqtt::Publisher& publisher,
                  const Clock& clock, EventBus& bus, std::set<std::string> service_users);

  /// A message on $SYS/smartproduct/presence/#.
  void on_presence(std::string_view topic, std::string_view payload,
                   std::function<void(bool)> done);
  /// A message on $CONTROL/smartproduct/v1/response (listConnected answers).
  void on_control_response(std::string_view payload, std::function<void(bool)> done);
  /// A device's connectivity as last reported (nullopt: never seen).
  Result<std::optional<PresenceState>> state(const std::string& device_id) {
    return repository_.state(device_id);
  }
  /// Asks the plugin for every connected client (after a broker restart or a lost session).
  void request_resync();

  struct Counters {
    std::atomic<uint64_t> events{0};
    std::atomic<uint64_t> malformed{0};
    std::atomic<uint64_t> broker_restarts{0};
    std::atomic<uint64_t> resyncs{0};
  };
  const Counters& counters() const { return counters_; }

 private:
  store::PresenceRepository& repository_;
  mqtt::Publisher& publisher_;
  const Clock& clock_;
  std::set<std::string> service_users_;
  Counters counters_;
  std::mutex mutex_;
  int64_t known_epoch_ = -1;  // -1: not loaded yet
  EventBus& bus_;
};

}  // namespace sp::presence
