#pragma once
// Events of the daemon's broker connection, published on the event bus by the composition root.

namespace sp::mqtt {

/// The daemon's MQTT session to the broker is (re)established. `session_present` false: the
/// broker forgot our session (and whatever it had queued for us).
struct BrokerConnected {
  bool session_present = false;
};

}  // namespace sp::mqtt
