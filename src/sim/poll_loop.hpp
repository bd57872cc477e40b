#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "mqtt_client.hpp"

namespace sp::sim {

using SteadyClock = std::chrono::steady_clock;

/// A client the poll loop drives: the loop does the socket I/O, the client decides what to do next.
class PolledClient {
 public:
  virtual ~PolledClient() = default;
  virtual MqttClient& mqtt() = 0;
  /// Called on every loop iteration before polling: connect, reconnect, publish more, finish.
  virtual void tick(SteadyClock::time_point now) = 0;
  /// Once true the loop stops driving this client.
  virtual bool finished() const = 0;
};

/// Drives `clients` on the calling thread with poll(2) until every one is finished: one thread can
/// serve hundreds of devices, where mosquitto_loop_start would need a thread per device.
/// `per_iteration` (may be empty) runs once per iteration, e.g. to flush logs or observe a stop
/// request.
void run_poll_loop(const std::vector<PolledClient*>& clients,
                   const std::function<void(SteadyClock::time_point)>& per_iteration);

}  // namespace sp::sim
