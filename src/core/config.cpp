#include "smartproduct/core/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "smartproduct/core/logging.hpp"

namespace sp::config {
namespace {

namespace fs = std::filesystem;

std::string where(const fs::path& file, const toml::source_region& region) {
  if (region.begin.line == 0) return file.string();
  return fmt::format("{}:{}:{}", file.string(), region.begin.line, region.begin.column);
}

// toml++ 3.3 (Debian 12) reaches __builtin_unreachable() in is_non_ascii_horizontal_whitespace()
// for the code points below (upstream marzer/tomlplusplus#295, fixed after 3.3): undefined
// behaviour whenever its parser asks whether such a character is whitespace. Where it asks depends
// on its lexer's state (after a bare value, after a line-ending backslash in a multi-line string,
// ...), and a second lexer here that guessed that state was found wrong by config_fuzz. So these
// characters are refused anywhere in the file, comments and strings included; a string can still
// hold them as \uXXXX escapes, which toml++ decodes without classifying. The ranges were measured
// by calling the function on every code point with TOML_UNREACHABLE redefined to record the hit.
bool toml_whitespace_check_is_undefined(char32_t c) {
  return (c >= 0xA1 && c <= 0x499) || (c >= 0x2C5E && c <= 0x2FFF) ||
         (c >= 0x3001 && c <= 0x3057) || (c >= 0xFB26 && c <= 0xFEFE);
}

struct UnsafeCharacter {
  int line;
  int column;
  char32_t code_point;
};

// The first such character, if any. UTF-8 is decoded leniently (as toml++ does before it checks
// the encoding), so an overlong or truncated sequence cannot hide a code point from this scan.
std::optional<UnsafeCharacter> find_unsafe_character(std::string_view text) {
  int line = 1, column = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    std::size_t len = b < 0x80           ? 1
                      : (b >> 5) == 0x6  ? 2
                      : (b >> 4) == 0xE  ? 3
                      : (b >> 3) == 0x1E ? 4
                                         : 1;
    char32_t c = b;
    if (len > 1 && i + len <= text.size()) {
      c = b & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k)
        c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    } else {
      len = 1;
    }
    if (toml_whitespace_check_is_undefined(c)) return UnsafeCharacter{line, column, c};
    if (c == '\n') {
      line += 1, column = 1;
    } else {
      column += 1;
    }
    i += len;
  }
  return std::nullopt;
}

std::optional<toml::table> parse_file(const fs::path& file, std::vector<std::string>& errors) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    errors.push_back(fmt::format("{}: cannot open the config file", file.string()));
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (auto at = find_unsafe_character(text)) {
    errors.push_back(fmt::format(
        "{}:{}:{}: U+{:04X} cannot appear in this file, not even in a comment or string (the TOML "
        "parser of Debian 12, toml++ 3.3, mishandles it); inside a \"string\" write it as "
        "\\u{:04X}",
        file.string(), at->line, at->column, static_cast<std::uint32_t>(at->code_point),
        static_cast<std::uint32_t>(at->code_point)));
    return std::nullopt;
  }
  try {
    return toml::parse(text, file.string());

  } catch (const toml::parse_error& e) {
    errors.push_back(fmt::format("{}: {}", where(file, e.source()), e.description()));
    return std::nullopt;
  }
}

}  // namespace

// Remembers which keys were consumed so that anything left over can be reported as unknown. Every
// accessor records an error instead of throwing, so one run of the loader reports all problems.
struct Section::Impl {
  std::string name;
  fs::path file;
  std::vector<std::string>* errors = nullptr;
  const toml::table* table = nullptr;
  toml::source_region region;
  std::set<std::string> consumed;

  const toml::node* take(const std::string& key) {
    consumed.insert(key);
    return table ? table->get(key) : nullptr;
  }
  void error(const toml::source_region& at, const std::string& key, const std::string& what) {
    std::string subject =
        key.empty() ? fmt::format("[{}]", name) : fmt::format("[{}] {}", name, key);
    errors->push_back(fmt::format("{}: {}: {}", where(file, at), subject, what));
  }
};

Section::Section(std::unique_ptr<Impl> impl) : name_(impl->name), impl_(std::move(impl)) {}
Section::Section(Section&&) noexcept = default;
Section::~Section() = default;

bool Section::present() const { return impl_->table != nullptr; }

std::string Section::string(const std::string& key, std::string fallback) {
  auto* node = impl_->take(key);
  if (!node) return fallback;
  if (auto v = node->value<std::string>()) return *v;
  impl_->error(node->source(), key, "must be a string");
  return fallback;
}

bool Section::boolean(const std::string& key, bool fallback) {
  auto* node = impl_->take(key);
  if (!node) return fallback;
  if (node->is_boolean()) return node->value<bool>().value();
  impl_->error(node->source(), key, "must be true or false");
  return fallback;
}

int64_t Section::integer(const std::string& key, int64_t fallback, int64_t min, int64_t max) {
  auto* node = impl_->take(key);
  if (!node) return fallback;
  if (!node->is_integer()) {
    impl_->error(node->source(), key, "must be an integer");
    return fallback;
  }
  int64_t v = node->value<int64_t>().value();
  if (v < min || v > max) {
    impl_->error(node->source(), key,
                 fmt::format("must be between {} and {} (got {})", min, max, v));
    return fallback;
  }
  return v;
}

fs::path Section::path(const std::string& key, const fs::path& fallback) {
  auto* node = impl_->take(key);
  fs::path raw = fallback;
  if (node) {
    if (auto v = node->value<std::string>()) {
      raw = *v;
    } else {
      impl_->error(node->source(), key, "must be a string (a path)");
    }
  }
  if (raw.empty()) return raw;
  return raw.is_absolute() ? raw : (impl_->file.parent_path() / raw).lexically_normal();
}

std::string Section::one_of(const std::string& key, std::string fallback,
                            std::initializer_list<std::string_view> allowed) {
  auto* node = impl_->take(key);
  if (!node) return fallback;
  auto v = node->value<std::string>();
  bool ok = false;
  if (v) {
    for (auto a : allowed) ok = ok || *v == a;
  }
  if (!ok) {
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    impl_->error(node->source(), key, fmt::format("must be one of: {}", list));
    return fallback;
  }
  return *v;
}

void Section::error(const std::string& key, const std::string& what) {
  const toml::node* node = impl_->table ? impl_->table->get(key) : nullptr;
  impl_->error(node ? node->source() : impl_->region, key, what);
}

std::optional<std::vector<Section::ListItem>> Section::string_list(const std::string& key) {
  auto* node = impl_->take(key);
  if (!node) return std::nullopt;
  const auto* array = node->as_array();
  if (!array) {
    impl_->error(node->source(), key, "must be an array of strings");
    return std::nullopt;
  }
  std::vector<ListItem> out;
  for (const auto& element : *array) {
    auto v = element.value<std::string>();
    if (!v) {
      impl_->error(element.source(), key, "must be an array of strings");
      return std::nullopt;
    }
    const auto& at = element.source().begin;
    // The region starts at the opening quote; the text starts one column later.
    out.push_back(ListItem{*v, at.line, at.line ? at.column + 1 : 0});
  }
  return out;
}

Section Section::subsection(const std::string& key) {
  auto impl = std::make_unique<Impl>();
  impl->name = impl_->name + "." + key;
  impl->file = impl_->file;
  impl->errors = impl_->errors;
  impl->region = impl_->region;
  if (auto* node = impl_->take(key)) {
    impl->region = node->source();
    impl->table = node->as_table();
    if (!impl->table) impl->error(node->source(), "", "must be a table");
  }
  return Section(std::move(impl));
}

void Section::error_in(const ListItem& item, std::size_t offset, const std::string& key,
                       const std::string& what) {
  toml::source_region at = impl_->region;
  if (item.line) {
    at.begin.line = item.line;
    at.begin.column = static_cast<toml::source_index>(item.column + offset);
  }
  impl_->error(at, key, what);
}

void Section::finish() {
  if (!impl_->table) return;
  for (auto&& [k, node] : *impl_->table) {
    std::string key(k.str());
    if (!impl_->consumed.count(key)) {
      impl_->error(k.source().begin.line ? k.source() : node.source(), key, "unknown key");
    }
  }
}

struct Document::Impl {
  fs::path file;
  toml::table root;
};

Document::Document() : impl_(std::make_unique<Impl>()) {}
Document::~Document() = default;

std::shared_ptr<const Document> Document::parse(const fs::path& input,
                                                std::vector<std::string>& errors) {
  fs::path file = fs::absolute(input).lexically_normal();
  auto root = parse_file(file, errors);
  if (!root) return nullptr;
  std::shared_ptr<Document> doc(new Document());
  doc->impl_->file = file;
  doc->impl_->root = std::move(*root);
  return doc;
}

const fs::path& Document::file() const { return impl_->file; }

Section Document::section(const std::string& name, std::vector<std::string>& errors) const {
  auto impl = std::make_unique<Section::Impl>();
  impl->name = name;
  impl->file = impl_->file;
  impl->errors = &errors;
  if (auto* node = impl_->root.get(name)) {
    impl->region = node->source();
    impl->table = node->as_table();
    if (!impl->table) impl->error(node->source(), "", "must be a table");
  }
  return Section(std::move(impl));
}

void Document::check_sections(const std::vector<std::string>& known,
                              std::vector<std::string>& errors) const {
  for (auto&& [k, node] : impl_->root) {
    const std::string name(k.str());
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      errors.push_back(fmt::format(
          "{}: unknown section or key '{}'",
          where(impl_->file, k.source().begin.line ? k.source() : node.source()), name));
    }
  }
}

namespace {

void read_log(Section& s, LogSettings& log) {
  log.level = s.one_of("level", log.level, {"trace", "debug", "info", "warn", "error"});
  log.sink = s.one_of("sink", log.sink, {"auto", "stdout", "journald"});
  log.format = s.one_of("format", log.format, {"text", "json"});
  s.finish();
}

}  // namespace

LoadResult load_daemon_config(const fs::path& file) {
  LoadResult result;
  auto doc = Document::parse(file, result.errors);
  if (!doc) return result;
  result.document = doc;

  DaemonConfig c;
  c.file = doc->file();
  c.document = doc;
  auto& errors = result.errors;

  {
    Section s = doc->section("log", errors);
    read_log(s, c.log);
  }
  {
    Section s = doc->section("storage", errors);
    c.storage.data_dir = s.path("data_dir", "data");
    c.storage.busy_timeout_ms = static_cast<int>(s.integer("busy_timeout_ms", 5000, 0, 600000));
    c.storage.write_batch_max = static_cast<int>(s.integer("write_batch_max", 512, 1, 100000));
    s.finish();
  }
  {
    Section s = doc->section("http", errors);
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
    h.public_rate_per_address_per_min = static_cast<int>(s.integer(
        "public_rate_per_address_per_min", h.public_rate_per_address_per_min, 1, 100000000));
    h.public_burst_per_address = static_cast<int>(
        s.integer("public_burst_per_address", h.public_burst_per_address, 1, 100000000));
    h.public_rate_global_per_min = static_cast<int>(
        s.integer("public_rate_global_per_min", h.public_rate_global_per_min, 1, 1000000000));
    h.public_burst_global =
        static_cast<int>(s.integer("public_burst_global", h.public_burst_global, 1, 1000000000));
    s.finish();
  }
  {
    Section s = doc->section("broker", errors);
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
      s.error("client_id", "must be 1 to 64 characters");
    }
    s.finish();
  }
  {
    Section s = doc->section("metrics", errors);
    c.metrics.token = s.string("token", "");
    c.metrics.allow_loopback = s.boolean("allow_loopback", true);
    if (!c.metrics.token.empty() && c.metrics.token.size() < 32) {
      s.error("token", "must be at least 32 characters (e.g. openssl rand -hex 32)");
    }
    s.finish();
  }
  {
    Section s = doc->section("api", errors);
    c.api_enabled = s.boolean("enabled", true);
    s.finish();
  }
  {
    Section s = doc->section("console", errors);
    c.console_enabled = s.boolean("enabled", true);
    c.web_root = s.path("web_root", "");
    s.finish();
  }
  if (c.console_enabled && !c.api_enabled) {
    // The console is useless without the API it calls.
    errors.push_back(fmt::format("{}: [console] enabled: the console needs [api] enabled = true",
                                 c.file.string()));
  }
  if (errors.empty()) result.config = std::move(c);
  return result;
}

LoadResult reload_log_settings(const fs::path& file, DaemonConfig current) {
  LoadResult result;
  auto doc = Document::parse(file, result.errors);
  if (!doc) return result;
  Section s = doc->section("log", result.errors);
  read_log(s, current.log);
  if (result.errors.empty()) result.config = std::move(current);
  return result;
}

}  // namespace sp::config
