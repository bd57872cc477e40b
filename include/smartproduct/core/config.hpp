#pragma once
// The daemon's configuration: one TOML file, one section per module. Loading validates every key
// and reports every problem with file:line:column; unknown keys are errors so typos never pass
// silently.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sp::config {

struct LogSettings {
  std::string level = "info";  // trace | debug | info | warn | error
  std::string sink = "auto";   // auto | stdout | journald
};

struct StorageSettings {
  std::filesystem::path data_dir;
  int busy_timeout_ms = 5000;
  int write_batch_max = 512;
};

struct HttpSettings {
  std::string listen = "0.0.0.0";
  uint16_t port = 8443;
  std::filesystem::path cert;
  std::filesystem::path key;
  std::size_t max_body_bytes = 65536;
  std::size_t max_header_bytes = 16384;
  std::chrono::seconds read_timeout{15};
  std::chrono::seconds idle_timeout{75};
  std::size_t max_connections = 1024;
  unsigned worker_threads = 4;
};

struct BrokerSettings {
  enum class Mode { kManaged, kExternal };
  Mode mode = Mode::kManaged;
  std::string host = "127.0.0.1";
  uint16_t port = 8883;
  std::filesystem::path ca_file;
  std::filesystem::path cert;
  std::filesystem::path key;
  std::string client_id = "smartproductd";
  int keepalive_s = 30;
  uint32_t session_expiry_s = 86400;
  std::filesystem::path mosquitto_bin = "/usr/sbin/mosquitto";
  std::filesystem::path mosquitto_conf;
  /// Where devices reach the broker, as told to users (GET /api/connection-info): empty host =
  /// the host name the client used to reach the API; port 0 = `port`.
  std::string public_host;
  uint16_t public_port = 0;
};

/// A feature switch with an MQTT topic prefix (the seed's cdk-manifest telemetry/events entries).
struct TopicFeature {
  bool enabled = true;
  std::string topic;
  std::size_t max_payload_bytes = 131072;
};

/// The [identity] section: accounts, tokens, password hashing, code delivery.
struct IdentitySettings {
  std::string issuer = "smartproduct";
  std::string audience = "smartproduct-api";
  std::string signing_algorithm = "ES256";  // ES256 | EdDSA (new keys only)
  std::chrono::seconds access_token_ttl{900};
  std::chrono::seconds refresh_token_ttl{30 * 24 * 3600};
  uint64_t argon2_opslimit = 2;          // libsodium OPSLIMIT_INTERACTIVE
  uint64_t argon2_memlimit_kib = 65536;  // 64 MiB, MEMLIMIT_INTERACTIVE
  int min_password_length = 10;
  std::chrono::seconds verification_code_ttl{24 * 3600};
  std::chrono::seconds reset_code_ttl{15 * 60};
  int max_code_attempts = 5;
  int max_failed_logins_per_account = 10;
  int max_failed_logins_per_address = 50;
  std::chrono::seconds failed_login_window{15 * 60};
  std::filesystem::path keys_dir;  // empty: <data_dir>/keys
  std::string smtp_url;            // empty: codes are written to the daemon log (development)
  std::string smtp_from = "smartproduct <no-reply@localhost>";
  std::string smtp_username;
  std::string smtp_password;
  bool smtp_require_tls = true;  // STARTTLS required for smtp:// URLs
  std::string public_url;        // e.g. https://iot.example.com (used in email texts); may be empty
};

/// [jitr]: registered device CAs and just-in-time registration of device certificates.
struct JitrSettings {
  /// true: a device certificate has topic rights only once activated (first connection of a
  /// registered device); the broker plugin must run with require_activation true.
  bool enabled = true;
  /// The broker's capath: registered device CAs are written here (hashed links maintained).
  std::filesystem::path ca_dir;
  /// Where `smartproductctl ca create` keeps the keys of CAs the platform manages.
  std::filesystem::path managed_ca_dir;
  /// Security events of one certificate and kind are recorded at most once per this interval.
  int security_event_interval_s = 600;
};

struct DaemonConfig {
  std::filesystem::path file;  // the file this was loaded from
  LogSettings log;
  StorageSettings storage;
  HttpSettings http;
  BrokerSettings broker;
  bool api_enabled = true;
  bool console_enabled = true;
  std::filesystem::path web_root;  // empty: the console built with this binary
  TopicFeature telemetry{true, "smartproduct/telemetry", 131072};
  TopicFeature events{true, "smartproduct/event", 131072};
  JitrSettings jitr;
  IdentitySettings identity;
};

/// Loads and validates a config file. On failure returns every problem, one line each, in the form
/// "FILE:LINE:COL: [section] key: what is wrong" (or "FILE: ..." when no position applies).
struct LoadResult {
  std::optional<DaemonConfig> config;
  std::vector<std::string> errors;
};
LoadResult load_daemon_config(const std::filesystem::path& file);

/// Parses only the [log] section again (for SIGHUP). Errors as above.
LoadResult reload_log_settings(const std::filesystem::path& file, DaemonConfig current);

}  // namespace sp::config
