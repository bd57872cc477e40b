#pragma once
// The daemon's MQTT v5 client (libmosquitto driven by an Asio loop on its own thread). This header
// is mosquitto-free so the composition root can include it.
//
// Acknowledgement ordering: libmosquitto 2.0.11 queues the PUBACK of a QoS 1 message *before* it
// calls on_message, and in threaded mode only writes queued packets in mosquitto_loop_write. The
// client therefore never calls loop_write while a received message has not been confirmed durable
// by its handler (`done()`), so the broker sees our PUBACK only after the message is committed.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "smartproduct/mqtt/types.hpp"

namespace sp::mqtt {

struct Subscription {
  std::string filter;
  int qos = 1;
  bool no_local = true;  // do not deliver our own publishes back to us
};

struct ClientConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8883;
  std::filesystem::path ca_file;
  std::filesystem::path cert;
  std::filesystem::path key;
  std::string client_id;
  int keepalive_s = 30;
  uint32_t session_expiry_s = 86400;
  /// How many unacknowledged QoS 1 messages the broker may send us at once (v5 Receive Maximum).
  int receive_maximum = 1000;
  /// How many of our own QoS 1 publishes (commands, control messages) may await their PUBACK at
  /// once; more wait in libmosquitto's queue. Matches receive_maximum: the same broker, the same
  /// tolerance for in-flight state.
  int max_inflight_messages = 1000;
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{30000};
  std::vector<Subscription> subscriptions;
  /// Filters to drop from the persistent session at every connect (moved to another connection).
  std::vector<std::string> unsubscribe;
};

// The handler (see smartproduct/mqtt/types.hpp) is called on the MQTT thread. The PUBACKs of
// received messages are written to the broker only when every outstanding `done` was called; a
// done(false) makes the client drop the connection unacknowledged so the broker redelivers.

/// A snapshot of the client's counters (each read atomically).
struct Stats {
  uint64_t received = 0;
  uint64_t published = 0;
  uint64_t connects = 0;
  uint64_t connection_losses = 0;
  uint64_t unstored_drops = 0;  // connections dropped because a message could not be stored
};

class Client final : public Publisher {
 public:
  Client(ClientConfig config, MessageHandler handler);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Starts the MQTT thread; connecting and reconnecting happen there, with back-off and jitter.
  void start();
  /// Waits for outstanding handler completions (up to `grace`), sends DISCONNECT (the persistent
  /// session stays on the broker) and joins the thread.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

  /// Thread-safe; the message is queued and sent from the MQTT thread.
  void publish(std::string topic, std::string payload, int qos = 1, bool retain = false) override;

  /// Called on the MQTT thread after every successful CONNACK (session_present as reported) and on
  /// every connection loss. Set before start().
  void on_connection_change(std::function<void(bool connected, bool session_present)> callback);

  /// Thread-safe. Paused: once every received message is handled, disconnect (session kept, so
  /// the broker queues our subscriptions' QoS 1 messages) and stay disconnected; resumed:
  /// connect again and receive what waited. Usable before start().
  void set_paused(bool paused);

  bool connected() const;
  /// A short human-readable reason when not connected (for /readyz).
  std::string status() const;
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::mqtt
