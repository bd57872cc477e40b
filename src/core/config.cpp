#include "smartproduct/core/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <fstream>
#include <set>
#include <sstream>

#include "smartproduct/core/logging.hpp"

namespace sp::config {
namespace {

namespace fs = std::filesystem;

std::string where(const fs::path& file, const toml::source_region& region) {
  if (region.begin.line == 0) return file.string();
  return fmt::format("{}:{}:{}", file.string(), region.begin.line, region.begin.column);
}

// Reads one [section], remembering which keys were consumed so that anything left over can be
// reported as unknown. Every accessor records an error instead of throwing, so one run of the
// loader reports all problems at once.
class SectionReader {
 public:
  SectionReader(const toml::table& root, std::string name, const fs::path& file,
                std::vector<std::string>& errors)
      : name_(std::move(name)), file_(file), errors_(errors) {
    if (auto* node = root.get(name_)) {
      table_ = node->as_table();
      if (!table_) error(node->source(), "", "must be a table");
    }
  }

  bool present() const { return table_ != nullptr; }

  std::string string(const std::string& key, std::string fallback) {
    auto* node = take(key);
    if (!node) return fallback;
    if (auto v = node->value<std::string>()) return *v;
    error(node->source(), key, "must be a string");
    return fallback;
  }

  bool boolean(const std::string& key, bool fallback) {
    auto* node = take(key);
    if (!node) return fallback;
    if (node->is_boolean()) return node->value<bool>().value();
    error(node->source(), key, "must be true or false");
    return fallback;
  }

  int64_t integer(const std::string& key, int64_t fallback, int64_t min, int64_t max) {
    auto* node = take(key);
    if (!node) return fallback;
    if (!node->is_integer()) {
      error(node->source(), key, "must be an integer");
      return fallback;
    }
    int64_t v = node->value<int64_t>().value();
    if (v < min || v > max) {
      error(node->source(), key, fmt::format("must be between {} and {} (got {})", min, max, v));
      return fallback;
    }
    return v;
  }

  /// A path; relative values are resolved against the config file's directory.
  fs::path path(const std::string& key, const fs::path& fallback) {
    auto* node = take(key);
    fs::path raw = fallback;
    if (node) {
      if (auto v = node->value<std::string>()) {
        raw = *v;
      } else {
        error(node->source(), key, "must be a string (a path)");
      }
    }
    if (raw.empty()) return raw;
    return raw.is_absolute() ? raw : (file_.parent_path() / raw).lexically_normal();
  }

  std::string one_of(const std::string& key, std::string fallback,
                     std::initializer_list<std::string_view> allowed) {
    auto* node = take(key);
    if (!node) return fallback;
    auto v = node->value<std::string>();
    bool ok = false;
    if (v) {
      for (auto a : allowed) ok = ok || *v == a;
    }
    if (!ok) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      error(node->source(), key, fmt::format("must be one of: {}", list));
      return fallback;
    }
    return *v;
  }

  /// Reports every key of the section that no accessor asked for.
  void finish() {
    if (!table_) return;
    for (auto&& [k, node] : *table_) {
      std::string key(k.str());
      if (!consumed_.count(key)) {
        error(k.source().begin.line ? k.source() : node.source(), key, "unknown key");
      }
    }
  }

  void error(const toml::source_region& region, const std::string& key, const std::string& what) {
    std::string subject =
        key.empty() ? fmt::format("[{}]", name_) : fmt::format("[{}] {}", name_, key);
    errors_.push_back(fmt::format("{}: {}: {}", where(file_, region), subject, what));
  }

 private:
  const toml::node* take(const std::string& key) {
    consumed_.insert(key);
    return table_ ? table_->get(key) : nullptr;
  }

  std::string name_;
  const fs::path& file_;
  std::vector<std::string>& errors_;
  const toml::table* table_ = nullptr;
  std::set<std::string> consumed_;
};

std::optional<toml::table> parse_file(const fs::path& file, std::vector<std::string>& errors) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    errors.push_back(fmt::format("{}: cannot open the config file", file.string()));
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return toml::parse(buffer.str(), file.string());
  } catch (const toml::parse_error& e) {
    errors.push_back(fmt::format("{}: {}", where(file, e.source()), e.description()));
    return std::nullopt;
  }
}

void read_log(SectionReader& s, LogSettings& log) {
  log.level = s.one_of("level", log.level, {"trace", "debug", "info", "warn", "error"});
  log.sink = s.one_of("sink", log.sink, {"auto", "stdout", "journald"});
  s.finish();
}

}  // namespace

LoadResult load_daemon_config(const fs::path& input) {
  LoadResult result;
  fs::path file = fs::absolute(input).lexically_normal();
  auto root = parse_file(file, result.errors);
  if (!root) return result;

  DaemonConfig c;
  c.file = file;
  auto& errors = result.errors;

  static const std::set<std::string> kSections = {"log",  "storage", "http",      "broker",
                                                  "api",  "console", "telemetry", "events",
                                                  "jitr", "identity"};
  for (auto&& [k, node] : *root) {
    if (!kSections.count(std::string(k.str()))) {
      errors.push_back(fmt::format("{}: unknown section or key '{}'",
                                   where(file, k.source().begin.line ? k.source() : node.source()),
                                   k.str()));
    }
  }

  {
    SectionReader s(*root, "log", file, errors);
    read_log(s, c.log);
  }
  {
    SectionReader s(*root, "storage", file, errors);
    c.storage.data_dir = s.path("data_dir", "data");
    c.storage.busy_timeout_ms = static_cast<int>(s.integer("busy_timeout_ms", 5000, 0, 600000));
    c.storage.write_batch_max = static_cast<int>(s.integer("write_batch_max", 512, 1, 100000));
    s.finish();
  }
  {
    SectionReader s(*root, "http", file, errors);
    auto& h = c.http;
    h.listen = s.string("listen", h.listen);
    h.port = static_cast<uint16_t>(s.integer("port", h.port, 0, 65535));
    h.cert = s.path("cert", "pki/https.crt");
    h.key = s.path("key", "pki/https.key");
    h.max_body_bytes = static_cast<std::size_t>(s.integer("max_body_bytes", 65536, 1024, 1 << 30));
    h.max_header_bytes =
        static_cast<std::size_t>(s.integer("max_header_bytes", 16384, 1024, 1 << 20));
    h.read_timeout = std::chrono::seconds(s.integer("read_timeout_s", 15, 1, 3600));
    h.idle_timeout = std::chrono::seconds(s.integer("idle_timeout_s", 75, 1, 86400));
    h.max_connections = static_cast<std::size_t>(s.integer("max_connections", 1024, 1, 1000000));
    h.worker_threads = static_cast<unsigned>(s.integer("worker_threads", 4, 1, 256));
    s.finish();
  }
  {
    SectionReader s(*root, "broker", file, errors);
    auto& b = c.broker;
    b.mode = s.one_of("mode", "managed", {"managed", "external"}) == "managed"
                 ? BrokerSettings::Mode::kManaged
                 : BrokerSettings::Mode::kExternal;
    b.host = s.string("host", b.host);
    b.port = static_cast<uint16_t>(s.integer("port", b.port, 1, 65535));
    b.ca_file = s.path("ca_file", "pki/root-ca.crt");
    b.cert = s.path("cert", "pki/svc-backend.crt");
    b.key = s.path("key", "pki/svc-backend.key");
    b.client_id = s.string("client_id", b.client_id);
    b.keepalive_s = static_cast<int>(s.integer("keepalive_s", 30, 5, 3600));
    b.session_expiry_s =
        static_cast<uint32_t>(s.integer("session_expiry_s", 86400, 60, 0xFFFFFFFELL));
    b.mosquitto_bin = s.path("mosquitto_bin", "/usr/sbin/mosquitto");
    b.mosquitto_conf = s.path("mosquitto_conf", "broker/mosquitto.conf");
    b.public_host = s.string("public_host", "");
    b.public_port = static_cast<uint16_t>(s.integer("public_port", 0, 0, 65535));
    if (b.client_id.empty() || b.client_id.size() > 64) {
      errors.push_back(
          fmt::format("{}: [broker] client_id: must be 1 to 64 characters", file.string()));
    }
    s.finish();
  }
  {
    SectionReader s(*root, "api", file, errors);
    c.api_enabled = s.boolean("enabled", true);
    s.finish();
  }
  {
    SectionReader s(*root, "console", file, errors);
    c.console_enabled = s.boolean("enabled", true);
    c.web_root = s.path("web_root", "");
    s.finish();
  }
  for (auto [name, feature] :
       {std::pair{"telemetry", &c.telemetry}, std::pair{"events", &c.events}}) {
    SectionReader s(*root, name, file, errors);
    feature->enabled = s.boolean("enabled", true);
    feature->topic = s.string("topic", feature->topic);
    feature->max_payload_bytes =
        static_cast<std::size_t>(s.integer("max_payload_bytes", 131072, 16, 268435455));
    if (feature->enabled &&
        (feature->topic.empty() || feature->topic.find_first_of("+#") != std::string::npos ||
         feature->topic.back() == '/')) {
      errors.push_back(
          fmt::format("{}: [{}] topic: must be a non-empty topic prefix without "
                      "wildcards or a trailing '/'",
                      file.string(), name));
    }
    s.finish();
  }
  {
    SectionReader s(*root, "jitr", file, errors);
    c.jitr.enabled = s.boolean("enabled", true);
    c.jitr.ca_dir = s.path("ca_dir", "broker/device-cas");
    c.jitr.managed_ca_dir = s.path("managed_ca_dir", "pki/cas");
    c.jitr.security_event_interval_s =
        static_cast<int>(s.integer("security_event_interval_s", 600, 0, 86400));
    s.finish();
  }
  {
    SectionReader s(*root, "identity", file, errors);
    auto& id = c.identity;
    id.issuer = s.string("issuer", id.issuer);
    id.audience = s.string("audience", id.audience);
    id.signing_algorithm = s.one_of("signing_algorithm", id.signing_algorithm, {"ES256", "EdDSA"});
    id.access_token_ttl = std::chrono::seconds(s.integer("access_token_ttl_s", 900, 60, 86400));
    id.refresh_token_ttl =
        std::chrono::seconds(s.integer("refresh_token_ttl_s", 30 * 24 * 3600, 300, 400 * 86400));
    // libsodium's Argon2id bounds: opslimit >= 1, memlimit >= 8 KiB; the upper bounds keep a
    // typo from making every sign-in allocate the whole machine.
    id.argon2_opslimit = static_cast<uint64_t>(s.integer("argon2_opslimit", 2, 1, 64));
    id.argon2_memlimit_kib =
        static_cast<uint64_t>(s.integer("argon2_memlimit_kib", 65536, 8, 4 * 1024 * 1024));
    id.min_password_length = static_cast<int>(s.integer("min_password_length", 10, 8, 128));
    id.verification_code_ttl =
        std::chrono::seconds(s.integer("verification_code_ttl_s", 86400, 60, 30 * 86400));
    id.reset_code_ttl = std::chrono::seconds(s.integer("reset_code_ttl_s", 900, 60, 86400));
    id.max_code_attempts = static_cast<int>(s.integer("max_code_attempts", 5, 1, 100));
    id.max_failed_logins_per_account =
        static_cast<int>(s.integer("max_failed_logins_per_account", 10, 1, 100000));
    id.max_failed_logins_per_address =
        static_cast<int>(s.integer("max_failed_logins_per_address", 50, 1, 1000000));
    id.failed_login_window =
        std::chrono::seconds(s.integer("failed_login_window_s", 900, 1, 86400));
    id.keys_dir = s.path("keys_dir", "");
    id.smtp_url = s.string("smtp_url", "");
    id.smtp_from = s.string("smtp_from", id.smtp_from);
    id.smtp_username = s.string("smtp_username", "");
    id.smtp_password = s.string("smtp_password", "");
    id.smtp_require_tls = s.boolean("smtp_require_tls", true);
    id.public_url = s.string("public_url", "");
    if (id.issuer.empty() || id.audience.empty()) {
      errors.push_back(
          fmt::format("{}: [identity] issuer and audience must not be empty", file.string()));
    }
    if (!id.smtp_url.empty() && id.smtp_url.rfind("smtp://", 0) != 0 &&
        id.smtp_url.rfind("smtps://", 0) != 0) {
      errors.push_back(
          fmt::format("{}: [identity] smtp_url: must start with smtp:// or smtps:// (or be empty)",
                      file.string()));
    }
    for (const auto& [key, value] :
         {std::pair{"smtp_from", &id.smtp_from}, std::pair{"smtp_url", &id.smtp_url}}) {
      if (value->find_first_of("\r\n") != std::string::npos) {
        errors.push_back(
            fmt::format("{}: [identity] {}: must be a single line", file.string(), key));
      }
    }
    if (id.keys_dir.empty()) id.keys_dir = c.storage.data_dir / "keys";
    s.finish();
  }
  if (c.console_enabled && !c.api_enabled) {
    // Same rule as the seed's CheckRequirements: the console is useless without the API.
    errors.push_back(fmt::format("{}: [console] enabled: the console needs [api] enabled = true",
                                 file.string()));
  }
  if (errors.empty()) result.config = std::move(c);
  return result;
}

LoadResult reload_log_settings(const fs::path& file, DaemonConfig current) {
  LoadResult result;
  auto root = parse_file(file, result.errors);
  if (!root) return result;
  SectionReader s(*root, "log", file, result.errors);
  read_log(s, current.log);
  if (result.errors.empty()) result.config = std::move(current);
  return result;
}

}  // namespace sp::config
