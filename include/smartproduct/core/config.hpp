#pragma once
// The daemon's configuration: one TOML file, one section per module. Core reads its own sections
// ([log], [storage], [http], [broker], [api], [console]); each module declares a settings struct
// and reads its section through a Section beside the module (its config.hpp). Every accessor
// validates and records problems as "FILE:LINE:COL: [section] key: what is wrong", so one run
// reports them all; keys nobody read are errors so typos never pass silently.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sp::config {

/// One [section] of the file, read by its owner. Accessors return the fallback (and record an
/// error) when a value has the wrong type or range; relative paths resolve against the file's
/// directory. Call finish() after the last accessor: every key not asked for is reported.
class Section {
 public:
  Section(Section&&) noexcept;
  ~Section();

  const std::string& name() const { return name_; }
  bool present() const;

  std::string string(const std::string& key, std::string fallback);
  bool boolean(const std::string& key, bool fallback);
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  std::filesystem::path path(const std::string& key, const std::filesystem::path& fallback);
  std::string one_of(const std::string& key, std::string fallback,
                     std::initializer_list<std::string_view> allowed);
  /// A string of a list, with where its text starts in the file (for values with a syntax of
  /// their own, e.g. expressions, whose errors point inside the string).
  struct ListItem {
    std::string value;
    std::uint32_t line = 0;    // 0: position unknown
    std::uint32_t column = 0;  // of the value's first character (after the quote)
  };
  /// The array of strings `key`, or nullopt when absent (or not an array of strings: recorded).
  std::optional<std::vector<ListItem>> string_list(const std::string& key);
  /// The table `key` of this section ([name.key]) as a section of its own; absent reads as empty.
  Section subsection(const std::string& key);
  /// A problem `offset` characters into `item`'s text.
  void error_in(const ListItem& item, std::size_t offset, const std::string& key,
                const std::string& what);
  /// A cross-field problem: positioned at `key` when the file has it, else at the section.
  void error(const std::string& key, const std::string& what);
  /// Reports the keys no accessor asked for.
  void finish();

 private:
  friend class Document;
  struct Impl;
  explicit Section(std::unique_ptr<Impl> impl);
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

/// A parsed config file.
class Document {
 public:
  /// Parses `file`; on failure records the problem in `errors` and returns null.
  static std::shared_ptr<const Document> parse(const std::filesystem::path& file,
                                               std::vector<std::string>& errors);
  ~Document();

  const std::filesystem::path& file() const;
  /// The section `name` (absent sections read as all defaults); problems go to `errors`.
  Section section(const std::string& name, std::vector<std::string>& errors) const;
  /// Reports every top-level section or key whose name is not in `known`.
  void check_sections(const std::vector<std::string>& known,
                      std::vector<std::string>& errors) const;

 private:
  struct Impl;
  Document();
  std::unique_ptr<Impl> impl_;
};

/// The sections core reads itself; modules must not use these names.
inline const std::vector<std::string>& core_sections() {
  static const std::vector<std::string> kNames = {"log", "storage", "http",   "broker",
                                                  "api", "console", "metrics"};
  return kNames;
}

struct LogSettings {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string sink = "auto";    // auto | stdout | journald
  std::string format = "text";  // text | json (one JSON object per line)
};

struct StorageSettings {
  std::filesystem::path data_dir;
  int busy_timeout_ms = 5000;
  int write_batch_max = 512;
};

/// Who may read GET /metrics ([metrics]). Counters name devices' topics and error rates, so they
/// are not for everyone who can reach the API port: loopback clients (a local Prometheus or
/// node exporter sidecar) may read them, anyone else needs `Authorization: Bearer <token>`.
struct MetricsSettings {
  std::string token;           // empty: no remote access at all
  bool allow_loopback = true;  // false: the token is needed from loopback too
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
  // Request limits of the console's files and /api/openapi.json (no route authenticates them):
  // per client address (IPv6 per /64) and in total, token buckets; 429 + Retry-After past them.
  // Generous: a console load is ~10 files, and an office shares one address.
  int public_rate_per_address_per_min = 1200;
  int public_burst_per_address = 600;
  int public_rate_global_per_min = 60000;
  int public_burst_global = 20000;
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

struct DaemonConfig {
  std::filesystem::path file;  // the file this was loaded from
  LogSettings log;
  StorageSettings storage;
  HttpSettings http;
  BrokerSettings broker;
  MetricsSettings metrics;
  bool api_enabled = true;
  bool console_enabled = true;
  std::filesystem::path web_root;  // empty: the console built with this binary
  /// The parsed file, for the modules' own sections (Document::section()).
  std::shared_ptr<const Document> document;
};

/// Loads the file and validates core's sections. Module sections are read and validated by the
/// modules (the daemon does that for all of them, plus check_sections()); tools that need one
/// module's settings read that section from `config->document`. On failure returns every problem,
/// one line each, in the form "FILE:LINE:COL: [section] key: what is wrong".
struct LoadResult {
  std::optional<DaemonConfig> config;
  std::vector<std::string> errors;
  /// The parsed file, also when core's sections had errors (null when it did not parse).
  std::shared_ptr<const Document> document;
};
LoadResult load_daemon_config(const std::filesystem::path& file);

/// Parses only the [log] section again (for SIGHUP). Errors as above.
LoadResult reload_log_settings(const std::filesystem::path& file, DaemonConfig current);

}  // namespace sp::config
