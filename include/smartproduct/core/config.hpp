#pragma once
// The daemon's configuration: one TOML file, one section per module. Loading validates every key and
// reports every problem with file:line:column; unknown keys are errors so typos never pass silently.

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
};

/// A feature switch with an MQTT topic prefix (the seed's cdk-manifest telemetry/events entries).
struct TopicFeature {
  bool enabled = true;
  std::string topic;
  std::size_t max_payload_bytes = 131072;
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
  bool jitr_enabled = true;
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
