#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace sp::presence {

/// What the broker plugin reported about one connection.
struct ConnectionEvent {
  enum class Kind { kConnected, kDisconnected, kRejected };
  Kind kind = Kind::kConnected;
  std::string device_id;  // the certificate CN (= client id for devices)
  std::string client_id;
  std::string cert_fingerprint;
  std::string issuer;
  std::string serial;
  std::string aki;    // the leaf's AKI as written by its issuer: informational, never trusted
  std::string ca_id;  // the registered CA whose key verified the signature (plugin); "" = none
  int64_t not_before_s = 0;  // certificate validity, epoch s (0: not reported)
  int64_t not_after_s = 0;
  std::string address;
  int protocol_version = 0;
  int64_t broker_epoch = 0;  // identifies the broker process
  int64_t conn_seq = 0;      // per-connection sequence within that broker process
  int64_t at_ms = 0;
  std::string reason;  // rejected only
};

std::string_view to_string(ConnectionEvent::Kind kind);

/// A device's current connectivity.
struct PresenceState {
  std::string device_id;
  bool connected = false;
  int64_t since_ms = 0;      // when it last connected or disconnected
  int64_t last_seen_ms = 0;  // last connect/disconnect/message seen
  std::string address;
  int64_t broker_epoch = 0;
  int64_t conn_seq = 0;
  std::string cert_fingerprint;
};

}  // namespace sp::presence
