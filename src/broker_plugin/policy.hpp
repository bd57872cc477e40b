#pragma once
// The decision core of the mosquitto plugin: identity checks, topic ACLs, the revocation / CA /
// activation sets, the state file, control commands and presence events. It has no mosquitto
// includes so it can be unit-tested without a broker; plugin.cpp is the thin glue around it.
//
// Not thread-safe: mosquitto 2.0 runs every plugin callback on its single main thread.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "smartproduct/broker/protocol.hpp"
#include "smartproduct/broker/state_sync.hpp"

namespace sp::broker_plugin {

/// Hash that accepts std::string and std::string_view alike, so lookups never allocate.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// A set of strings with O(1) heterogeneous lookup.
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

/// Plugin options (`plugin_opt_<name>` lines of mosquitto.conf).
struct Options {
  std::string state_file;                  // required
  StringSet service_users{"svc-backend"};  // comma list
  std::string telemetry_topic = "smartproduct/telemetry";
  std::string event_topic = "smartproduct/event";
  std::string command_topic = "smartproduct/commands";
  std::string shadow_prefix = "$aws/things";
  bool require_activation = false;
  // Trust anchors, decided by signature (trust.hpp): the PEM file whose CA key(s) may issue
  // service identities (the platform root) and the directory of registered device CAs (the
  // broker's capath). Both required.
  std::string service_ca;
  std::string device_ca_dir;
  // Deprecated, kept so older configs still start: an extra filter on the service leaf's AKI. An
  // AKI is written by the issuer, so it proves nothing; service_ca is what is enforced.
  StringSet service_issuer_akis;
  // The ingest tap (spool.hpp): device messages on the telemetry and event topics are appended to
  // this directory before the PUBACK. Empty: no tap.
  std::string spool_dir;
  std::uint64_t spool_sync_ms = 5;
  std::uint64_t spool_segment_bytes = 64u << 20;
  std::uint64_t spool_quota_bytes = 1u << 30;
  // Behaviour reports (detection): per-device counters published on kBehaviourTopic every
  // interval. 0 = off (nothing counted); otherwise 100..3600000.
  std::uint64_t behaviour_interval_ms = 10000;
};

/// Parses and validates the options. Unknown keys are an error (a typo must not silently weaken
/// policy). Topic options must be non-empty, without wildcards and without leading/trailing '/'.
tl::expected<Options, std::string> parse_options(
    const std::vector<std::pair<std::string, std::string>>& kv);

/// The persistent policy sets. Fingerprints and AKIs are stored normalized (uppercase hex, no
/// colons); a disabled CA entry that is not hex is an issuer DN (for CAs without an AKI).
struct BrokerState {
  StringSet revoked_fingerprints;
  StringSet revoked_usernames;
  StringSet disabled_cas;
  StringSet activated_fingerprints;
  /// Pre-authorization (JITR without a round trip): a device whose username (serial) is in
  /// registered_usernames, connected with a certificate whose verified CA is in auto_activate_cas,
  /// has its
  /// topic rights from its first packet, before the backend has recorded and activated the
  /// certificate. Both sets are the backend's decision (a live registration; an ACTIVE CA with
  /// auto-registration), so this only removes the latency, not a check.
  StringSet registered_usernames;
  StringSet auto_activate_cas;
  /// Quarantined devices (detection): they may only publish to their shadow and command
  /// responses; subscriptions and deliveries are unchanged.
  StringSet quarantined_usernames;
  bool operator==(const BrokerState&) const = default;
};

/// Uppercases hex digits and removes ':' separators ("ab:cd" -> "ABCD").
std::string normalize_hex(std::string_view in);

/// Parses the state JSON object. Missing keys mean empty sets; unknown keys are ignored; a
/// non-array value, a non-string element or a fingerprint that is not 64 hex digits is an error.
tl::expected<BrokerState, std::string> parse_state(std::string_view json);

/// Serializes the state with sorted arrays (stable output, diff-friendly).
std::string serialize_state(const BrokerState& state);

/// Reads the state file. A missing file is an empty state; an unreadable or malformed one is an
/// error.
tl::expected<BrokerState, std::string> load_state_file(const std::string& path);

/// Writes the state file atomically: temp file in the same directory, fsync, rename, fsync of the
/// directory. Keeps the mode of an existing file, else 0640.
tl::expected<void, std::string> save_state_file(const std::string& path, const BrokerState& state);

/// Which anchor's key verified the leaf's signature (trust.hpp); never a field of the leaf.
enum class IssuerKind { kNone, kService, kDevice };

/// What the plugin learns from the verified peer certificate.
struct CertIdentity {
  std::string fingerprint;  // SHA-256 of the DER, uppercase hex without colons
  std::string cn;           // subject CN (UTF-8); empty when absent or ambiguous
  std::string issuer;       // issuer DN, RFC 2253
  std::string serial;       // uppercase hex
  std::string aki;          // authority key identifier keyid, uppercase hex; may be empty.
                            // Informational only: the issuer writes it.
  IssuerKind issuer_kind = IssuerKind::kNone;
  std::string ca_id;  // the anchor whose key verified the signature (its SKI hex); empty = none
  std::int64_t not_before = 0;  // validity, epoch seconds (0 when unreadable)
  std::int64_t not_after = 0;
};

/// True when `cn` can safely be a username and a topic segment.
bool is_valid_cn(std::string_view cn);

/// Opaque identity of a live connection (the broker's `struct mosquitto*`).
using ConnectionKey = const void*;

/// The per-message behaviour counters (see the plugin README, "Behaviour reports"). A connection
/// counts into its own copy, next to the fields every ACL check reads anyway, so a message costs
/// the connection-table lookup the ACL does already and a few additions; the copy is folded into
/// the device's DeviceBehaviour at each report and at the disconnect.
struct MessageCounters {
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t max_message_bytes = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t authorization_failures = 0;
  std::uint64_t quarantine_refusals = 0;
  /// Adds `o` (max for max_message_bytes) and zeroes it.
  void take(MessageCounters& o) {
    messages_sent += o.messages_sent;
    bytes_sent += o.bytes_sent;
    max_message_bytes = std::max(max_message_bytes, o.max_message_bytes);
    messages_received += o.messages_received;
    authorization_failures += o.authorization_failures;
    quarantine_refusals += o.quarantine_refusals;
    o = MessageCounters{};
  }
};

/// One device's behaviour counters of the current report interval, over all its connections.
struct DeviceBehaviour : MessageCounters {
  std::uint64_t connection_attempts = 0;
  std::uint64_t disconnects = 0;
  std::vector<std::string> addresses;  // the first kMaxListedAddresses distinct ones
  StringSet address_set;               // distinct addresses, at most kMaxDistinctAddresses
  std::uint32_t live_connections = 0;  // connections pointing at this entry (kept while > 0)

  static constexpr std::size_t kMaxListedAddresses = 16;
  static constexpr std::size_t kMaxDistinctAddresses = 1000;
  bool active() const {
    return messages_sent != 0 || messages_received != 0 || authorization_failures != 0 ||
           quarantine_refusals != 0 || connection_attempts != 0 || disconnects != 0;
  }
  void reset();
};

/// A connection the plugin accepted and announced.
struct ConnectionInfo {
  // Read or written for every message: kept together at the start of the record.
  std::string username;                  // = CN
  bool service = false;                  // username is a service user
  DeviceBehaviour* behaviour = nullptr;  // the device's counters; null: not counted
  MessageCounters counters;              // this connection's share, folded into *behaviour
  std::string client_id;
  CertIdentity cert;
  std::string address;
  int protocol_version = 0;
  std::uint64_t conn_seq = 0;
  std::int64_t connected_at_ms = 0;
};

/// A message the glue must publish with mosquitto_broker_publish_copy (QoS 1).
struct Publication {
  std::string topic;
  std::string payload;
  bool retain = false;
};

/// The client-side facts of a connect attempt, as the broker reports them.
struct ConnectAttempt {
  ConnectionKey key = nullptr;
  std::optional<std::string> client_id;
  std::string address;
  int protocol_version = 0;
};

enum class AuthOutcome {
  kAccepted,        // new connection: set username, announce
  kReauthAccepted,  // SIGHUP re-check of a known connection: nothing to announce
  kRejected,        // return MOSQ_ERR_AUTH
};

struct AuthDecision {
  AuthOutcome outcome = AuthOutcome::kRejected;
  // rejected only: invalid_cn | client_id_mismatch | service_issuer_mismatch |
  // issuer_unverified | revoked | ca_disabled
  std::string reason;
  std::string username;  // accepted: the CN to set as username
  std::optional<Publication> presence;
};

/// The broker's access kinds (MOSQ_ACL_READ/WRITE/SUBSCRIBE/UNSUBSCRIBE).
enum class Access { kRead, kWrite, kSubscribe, kUnsubscribe };
enum class AclResult { kAllow, kDeny, kDefer };

/// Result of one control message.
struct ControlOutcome {
  bool authorized = false;                   // false: requester is not a service user, ignore
  std::string response;                      // {"responses":[...]} for the requester
  std::vector<std::string> kick_client_ids;  // kick after publishing the response
  bool state_changed = false;                // persist the state file
  bool trust_changed = false;                // re-read the device CA directory (a CA changed)
};

enum class LogLevel { kInfo, kWarning, kError };
using LogSink = std::function<void(LogLevel, const std::string&)>;

// The protocol's topics, shared with the daemon.
using broker::kBrokerTopic;
using broker::kControlResponseTopic;
using broker::kControlTopic;
using broker::kPresencePrefix;

/// A generation of `stateChunk`s being received: applied only when complete and intact.
/// (Outside Policy: clang cannot default-construct a nested class with member initializers in an
/// std::optional member of the class that encloses it.)
struct StagedState {
  std::uint64_t generation = 0;
  std::uint64_t count = 0;  // chunks announced
  std::uint64_t next = 0;   // index of the chunk expected next
  BrokerState state;
  broker::StateChecksum sum;
};

/// The plugin's whole decision state for one broker process.
class Policy {
 public:
  /// `epoch_s` identifies the broker process (its start time in epoch seconds).
  Policy(Options options, BrokerState state, std::int64_t epoch_s, LogSink log = {});

  /// BASIC_AUTH: decides on a connect (or a SIGHUP re-check) and records accepted connections.
  AuthDecision authenticate(const ConnectAttempt& attempt, const CertIdentity& cert,
                            std::int64_t now_ms);

  /// DISCONNECT: forgets the connection; returns the `disconnected` event if it was announced.
  std::optional<Publication> on_disconnect(ConnectionKey key, std::int64_t now_ms);

  /// ACL_CHECK. `username` is the broker's username for the client (the CN for our clients; it
  /// survives for offline persistent sessions, whose key is not in the connection table).
  /// Counts refusals (authorizationFailures / quarantineRefusals) and allowed deliveries
  /// (messagesReceived) of live device connections.
  AclResult check_acl(ConnectionKey key, std::string_view username, std::string_view topic,
                      Access access);

  /// MESSAGE: a publish the ACL allowed; counts messagesSent / bytesSent / maxMessageBytes for
  /// the connection's device (nothing for service users, unknown keys or with reports off).
  void count_message(ConnectionKey key, std::size_t payload_bytes) {
    const auto it = connections_.find(key);
    if (it == connections_.end() || it->second.behaviour == nullptr) return;
    auto& b = it->second.counters;
    ++b.messages_sent;
    b.bytes_sent += payload_bytes;
    if (payload_bytes > b.max_message_bytes) b.max_message_bytes = payload_bytes;
  }

  /// TICK: when the report interval has elapsed, returns the behaviour report (one publication
  /// per part; none without activity), resets the counters and drops entries of idle devices
  /// without a live connection. Also ends the interval of the quarantine refusal log throttle.
  std::vector<Publication> behaviour_tick(std::int64_t now_ms);

  /// The current interval's counters of a device, its live connections' shares included (tests,
  /// bench); nullopt when it has no entry.
  std::optional<DeviceBehaviour> behaviour(std::string_view username) const;
  std::size_t behaviour_entries() const { return behaviour_.size(); }
  bool is_quarantined(std::string_view username) const {
    return !state_.quarantined_usernames.empty() &&
           state_.quarantined_usernames.find(username) != state_.quarantined_usernames.end();
  }

  /// CONTROL on $CONTROL/smartproduct/v1. Never throws on bad input: errors become entries.
  ControlOutcome handle_control(std::string_view requester_username, std::string_view payload);

  /// The retained `broker_started` message for the first TICK.
  Publication broker_started(long pid) const;

  /// Replaces the sets (RELOAD). Does not kick: the broker re-runs BASIC_AUTH after a reload.
  void replace_state(BrokerState state);

  bool is_service_user(std::string_view username) const;
  const BrokerState& state() const { return state_; }
  const Options& options() const { return options_; }
  std::int64_t epoch() const { return epoch_; }
  std::size_t connection_count() const { return connections_.size(); }
  const ConnectionInfo* find_connection(ConnectionKey key) const;
  /// The generation `stateChunk` is staging (nullopt: none); the live state is unaffected by it.
  std::optional<std::uint64_t> staged_generation() const {
    return staged_ ? std::optional<std::uint64_t>(staged_->generation) : std::nullopt;
  }

 private:
  std::optional<std::string> refusal_reason(const CertIdentity& cert,
                                            std::string_view username) const;
  bool ca_disabled(const CertIdentity& cert) const;
  bool device_may_access(std::string_view cn, std::string_view topic, Access access) const;
  bool gate_open(ConnectionKey key, std::string_view username) const;
  bool quarantine_allows(std::string_view topic, std::string_view cn) const;
  std::vector<std::string> kick_where(const std::function<bool(const ConnectionInfo&)>& pred) const;
  void log(LogLevel level, const std::string& msg) const;

  // Control commands (policy.cpp): one member per command, looked up by name in one table.
  struct ControlCommand;
  using ControlHandler = void (Policy::*)(ControlCommand&);
  static ControlHandler find_control_command(std::string_view name);
  void control_revoke(ControlCommand& c);
  void control_unrevoke(ControlCommand& c);
  void control_disable_ca(ControlCommand& c);
  void control_enable_ca(ControlCommand& c);
  void control_activate(ControlCommand& c);
  void control_deactivate(ControlCommand& c);
  void control_set_state(ControlCommand& c);
  void control_register_device(ControlCommand& c);
  void control_unregister_device(ControlCommand& c);
  void control_kick_device(ControlCommand& c);
  void control_list_connected(ControlCommand& c);
  void control_state_chunk(ControlCommand& c);
  void control_quarantine(ControlCommand& c);
  void control_release(ControlCommand& c);
  /// Replaces the live state (setState, the last chunk of a generation) and kicks what it refuses.
  void swap_state(BrokerState state, ControlCommand& c);
  void discard_staged(const std::string& why);
  /// The counters of a device (created when missing); null when reports are off or the table is
  /// full.
  DeviceBehaviour* behaviour_slot(std::string_view username);
  /// Folds the connection's counters into its device's entry and detaches it.
  void release_slot(ConnectionInfo& info);
  /// A publish refused only because the device is quarantined: count it, log once an interval.
  void quarantine_refusal(MessageCounters* b, std::string_view username, std::string_view topic);

  Options options_;
  BrokerState state_;
  std::int64_t epoch_;
  LogSink log_;
  std::uint64_t next_conn_seq_ = 1;
  std::unordered_map<ConnectionKey, ConnectionInfo> connections_;
  std::optional<StagedState> staged_;
  // Fingerprint last seen per device username, so the activation gate also works for ACL checks
  // on offline persistent sessions (queued commands), which have no live connection entry.
  std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> last_fingerprint_;
  // Behaviour counters per device username (references are stable: connections point at them).
  std::unordered_map<std::string, DeviceBehaviour, StringHash, std::equal_to<>> behaviour_;
  std::int64_t report_from_ms_ = 0;  // start of the current interval (0: not started)
  std::uint64_t report_seq_ = 0;
  bool behaviour_full_logged_ = false;
  // Devices whose quarantine refusal was logged in the current interval.
  StringSet quarantine_logged_;
  std::int64_t quarantine_log_from_ms_ = 0;

 public:
  /// Bound on behaviour entries (devices active in one interval); beyond it, new devices are not
  /// counted until the next report.
  static constexpr std::size_t kMaxBehaviourEntries = 2000000;
  /// A report part's payload stays below this.
  static constexpr std::size_t kMaxReportPartBytes = 65536;
};

}  // namespace sp::broker_plugin
