#pragma once

#include <mosquitto.h>

#include <cstdint>
#include <string>

#include "broker_options.hpp"

namespace sp::sim {

/// mosquitto_lib_init/cleanup for the lifetime of the object (one per process).
class MosquittoLibrary {
 public:
  MosquittoLibrary();
  ~MosquittoLibrary();
  MosquittoLibrary(const MosquittoLibrary&) = delete;
  MosquittoLibrary& operator=(const MosquittoLibrary&) = delete;
};

/// Human text for a libmosquitto error code (MOSQ_ERR_*).
std::string error_text(int rc);
/// Human text for an MQTT reason code (v5 CONNACK/PUBACK/SUBACK), with its number.
std::string reason_text(int reason_code);

/// Receives the callbacks of one MqttClient. They run on the thread that drives the client's loop
/// (inside MqttClient::loop_read and friends), never concurrently for one client.
class MqttListener {
 public:
  virtual ~MqttListener() = default;
  /// CONNACK: reason_code 0 = accepted.
  virtual void on_connect(int /*reason_code*/) {}
  /// The connection ended; rc 0 = we asked for it.
  virtual void on_disconnect(int /*rc*/) {}
  /// QoS 0: the message was written; QoS 1: PUBACK with its reason code (>= 0x80 = refused).
  virtual void on_publish(int /*mid*/, int /*reason_code*/) {}
  virtual void on_message(const mosquitto_message& /*message*/) {}
  /// SUBACK: one granted QoS or reason code (>= 0x80 = refused) per filter.
  virtual void on_subscribe(int /*mid*/, int /*count*/, const int* /*granted*/) {}
};

/// Identity and session of one client.
struct ClientSettings {
  std::string client_id;
  std::string cert_file;  ///< client certificate chain (PEM)
  std::string key_file;
  bool clean_start = true;
  std::uint32_t session_expiry_s = 0;  ///< MQTT v5 only
  int send_maximum = 100;              ///< outgoing QoS 1 messages libmosquitto keeps in flight
  int receive_maximum = 100;           ///< incoming QoS 1 messages the broker may keep in flight
};

/// One libmosquitto client over mutual TLS (TLS 1.2+), driven by the caller (non-threaded mode):
/// the owner polls socket() and calls loop_read/loop_write/loop_misc. Not thread-safe.
class MqttClient {
 public:
  /// Throws std::runtime_error when libmosquitto refuses the settings (e.g. unreadable key).
  MqttClient(const BrokerOptions& broker, const ClientSettings& settings, MqttListener& listener);
  ~MqttClient();
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  /// Blocking TCP connect + TLS handshake, then sends CONNECT; CONNACK arrives via loop_read.
  int connect();
  /// Like connect() for an existing client: libmosquitto keeps unacknowledged QoS 1 messages and
  /// re-sends them (DUP) once the new connection is up.
  int reconnect();
  int disconnect();
  /// Queues (and, outside callbacks, writes) a PUBLISH; *mid receives its packet id.
  int publish(const std::string& topic, const std::string& payload, int qos, int* mid);
  /// `no_local` (MQTT v5): the broker does not send this client its own publishes on `filter`.
  int subscribe(const std::string& filter, int qos, int* mid, bool no_local = false);

  int socket() const;
  bool want_write() const;
  int loop_read();
  int loop_write();
  int loop_misc();

  const std::string& client_id() const { return settings_.client_id; }
  int keepalive_s() const { return broker_.keepalive_s; }
  /// connect() + reconnect() calls so far: each may have opened a new socket.
  std::uint64_t connection_attempts() const { return connection_attempts_; }

 private:
  BrokerOptions broker_;
  ClientSettings settings_;
  MqttListener& listener_;
  mosquitto* mosq_ = nullptr;
  mosquitto_property* connect_props_ = nullptr;
  std::uint64_t connection_attempts_ = 0;
};

/// File descriptors one connected MqttClient holds: its socket. libmosquitto 2.0.11 also opens a
/// socketpair per connect to wake its own select() loop (mosquitto_loop); we never run that loop,
/// so MqttClient keeps the library from creating it (see mqtt_client.cpp).
inline constexpr int kFdsPerClient = 1;

/// Socketpairs libmosquitto asked for and was refused, process-wide (for tests and diagnostics).
std::uint64_t refused_socketpairs();

}  // namespace sp::sim
