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
  PresenceService(store::PresenceRepository& repository, mqtt::Publisher& publisher,
                  const Clock& clock, std::set<std::string> service_users);

  /// A message on $SYS/smartproduct/presence/#.
  void on_presence(std::string_view topic, std::string_view payload,
                   std::function<void(bool)> done);
  /// A message on $CONTROL/smartproduct/v1/response (listConnected answers).
  void on_control_response(std::string_view payload, std::function<void(bool)> done);
  /// Asks the plugin for every connected client (after a broker restart or a lost session).
  void request_resync();

  /// Called (on the writer's completion thread) with every device `connected`/`rejected` event
  /// and every client of a resync once it is stored. Set before messages flow.
  using Observer = std::function<void(const ConnectionEvent&)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

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
  Observer observer_;
};

}  // namespace sp::presence
