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
  /// Connect, reconnect, publish more, finish. Runs when next_tick() is due, after socket I/O of
  /// this client, and when the loop's per-iteration hook asks for it (e.g. a stop request).
  virtual void tick(SteadyClock::time_point now) = 0;
  /// When tick() must run next even without I/O. The default, time_point::min(), means "on every
  /// loop pass" (the loop then wakes at least every 10 ms): fine for load generators, but a fleet
  /// of idle devices must say when its next timer is due, or it costs CPU per device.
  virtual SteadyClock::time_point next_tick() const { return SteadyClock::time_point::min(); }
  /// Once true the loop stops driving this client.
  virtual bool finished() const = 0;
};

/// Drives `clients` on the calling thread with one epoll set over all their sockets and one timer
/// heap over their next_tick()s, until every one is finished. A client costs nothing between its
/// timers and its socket events, besides one libmosquitto keepalive check (loop_misc) every few
/// seconds. `per_iteration` (may be empty) runs at least every 200 ms, e.g. to flush logs or
/// observe a stop request; when it returns true every client is ticked at once.
void run_poll_loop(const std::vector<PolledClient*>& clients,
                   const std::function<bool(SteadyClock::time_point)>& per_iteration);

/// How often the loop calls loop_misc (PINGREQ when due, keepalive timeout) for a connected
/// client with `keepalive_s`: often enough that a PINGREQ is at most a few seconds late.
std::chrono::milliseconds misc_interval(int keepalive_s);

}  // namespace sp::sim
