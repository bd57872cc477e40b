#pragma once
// The security audit's domain types: the snapshot every check reads (collected once per run from
// the store, the broker's files and the platform PKI), the findings checks raise, and the settings
// of [audit]. Checks are plain functions over a Snapshot (audit/checks.hpp), so each is tested
// without SQLite or files.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sp::audit {

/// [audit] settings.
struct AuditSettings {
  /// Daily run time "HH:MM" (UTC); nullopt = "off" (no scheduled runs).
  std::optional<int> schedule_minute_of_day = 3 * 60;
  int expiry_warning_days = 30;
  /// Administrators without a sign-in for this many days are findings.
  int admin_inactive_days = 90;
};

/// The public key of a certificate, as far as the key-strength check needs it.
struct KeyInfo {
  std::string type;   ///< "RSA", "EC", "ED25519", "ED448", "DSA", ... ("" = unreadable)
  int bits = 0;       ///< key size in bits
  std::string curve;  ///< EC only: the curve's short name, e.g. "prime256v1"
};

/// A device certificate known to the platform (ACTIVE or REVOKED; others cannot connect).
struct DeviceCert {
  std::string fingerprint;
  std::string device_id;
  std::string ca_id;
  std::string status;  ///< "ACTIVE" | "REVOKED"
  std::optional<std::int64_t> not_after_s;
  bool connected = false;  ///< the device is connected with this very certificate
};

/// A registered device CA.
struct CaCert {
  std::string id;  ///< subject key identifier
  std::string name;
  std::string status;  ///< "ACTIVE" | "INACTIVE" | "DEREGISTERED"
  std::int64_t not_after_s = 0;
  std::int64_t connected_devices = 0;  ///< devices connected now with a certificate of it
  bool in_trust_dir = false;           ///< its PEM is in the broker's capath
  KeyInfo key;
};

/// A connect or disconnect the broker plugin reported (presence history) in the audit window.
struct Connection {
  std::string device_id;
  std::string event;  ///< "connected" | "disconnected"
  std::string client_id;
  std::string fingerprint;
  std::string address;  ///< source IP
  std::int64_t broker_epoch = 0;
  std::int64_t conn_seq = 0;
  std::int64_t at_ms = 0;
};

/// A platform certificate file (root CA, HTTPS, service identity, managed CAs).
struct PlatformCert {
  std::string path;
  std::int64_t not_after_s = 0;
  bool is_ca = false;
  KeyInfo key;
};

/// An enabled administrator account.
struct AdminAccount {
  std::string id;
  std::string email;
  bool email_verified = false;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> last_sign_in_ms;  ///< the newest auth.login of the audit log
};

/// A private key file and its permission bits.
struct KeyFile {
  std::string path;
  unsigned mode = 0;  ///< st_mode & 07777
};

struct Listener {
  std::string port;  ///< as written (may include a bind address)
  int line = 0;
  bool tls = false;         ///< certfile (or psk_hint) configured for it
  std::string tls_version;  ///< as written; empty: mosquitto's default (1.2 and later)
};

/// One grant of mosquitto's acl_file.
struct AclGrant {
  std::string user;  ///< empty: applies to every client (a line before any `user`)
  std::string access;
  std::string topic;
  bool pattern = false;  ///< a `pattern` line (applies to every client)
  int line = 0;
};

/// What the audit reads from the broker's mosquitto.conf (and the files it names).
struct BrokerConfig {
  bool read = false;  ///< false: the file could not be read (the checks say so, not "all fine")
  std::string path;
  bool allow_anonymous = false;
  bool plugin_loaded = false;
  std::vector<Listener> listeners;
  std::vector<std::string> log_dest;  ///< log_dest values ("none" disables logging)
  std::vector<std::string> log_type;  ///< log_type values
  std::string acl_file;
  std::string state_file;  ///< plugin_opt_state_file
  std::string capath;
  std::set<std::string> service_users;  ///< plugin_opt_service_users
  bool acl_read = false;
  std::vector<AclGrant> acl;
};

/// The broker plugin's enforcement state file.
struct PluginState {
  bool read = false;
  std::set<std::string> revoked_fingerprints;
  std::set<std::string> disabled_cas;
};

/// Everything one audit run looks at, collected once at its start.
struct Snapshot {
  std::int64_t now_ms = 0;
  int expiry_warning_days = 30;
  /// Connections from now_ms - window_ms on (shared certificates, conflicting client ids).
  std::int64_t window_ms = 24LL * 3600 * 1000;
  std::vector<DeviceCert> device_certs;
  std::vector<CaCert> cas;
  std::vector<AdminAccount> admins;
  int admin_inactive_days = 90;
  std::vector<Connection> connections;  ///< oldest first
  std::vector<PlatformCert> platform_certs;
  std::vector<KeyFile> key_files;
  BrokerConfig broker;
  PluginState plugin;
  std::string daemon_log_level = "info";
  /// What could not be read (reported with the run).
  std::vector<std::string> notes;
};

enum class Severity { kCritical, kHigh, kMedium, kLow };
std::string_view to_string(Severity s);
std::optional<Severity> severity_from(std::string_view text);

/// What a check raises: one per (check, resource).
struct Finding {
  std::string check;
  Severity severity = Severity::kMedium;
  std::string resource_type;  ///< certificate | ca | device | client-id | file | broker | daemon | account
  std::string resource_id;
  std::string reason;
  nlohmann::json details = nlohmann::json::object();
};

}  // namespace sp::audit
