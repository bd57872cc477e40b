#include "instance_layout.hpp"

#include <algorithm>
#include <cstdlib>

namespace sp::cli {

Result<InstanceLayout> make_layout(const std::filesystem::path& dir) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(dir, ec);
  if (ec || dir.empty()) {
    return fail(ErrorKind::kBadRequest, "DirectoryInvalid", "invalid directory: " + dir.string());
  }
  const std::string s = abs.string();
  if (std::any_of(s.begin(), s.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; })) {
    return fail(ErrorKind::kBadRequest, "DirectoryInvalid",
                "directory name contains control characters");
  }
  auto normal = abs.lexically_normal();
  // "a/b/" normalises to "a/b/" with an empty filename; drop it for clean joined paths.
  if (normal.has_parent_path() && normal.filename().empty()) normal = normal.parent_path();
  return InstanceLayout{normal, {}};
}

namespace {
InstanceSelection& root_selection() {
  static InstanceSelection root;
  return root;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}
}  // namespace

std::filesystem::path InstanceSelection::config_file() const {
  const InstanceSelection& root = root_selection();
  for (const InstanceSelection* s : {this, &root}) {
    if (!s->config.empty()) return s->config;
    if (!s->dir.empty()) return std::filesystem::path(s->dir) / "smartproduct.toml";
  }
  if (auto env = env_or_empty("SMARTPRODUCT_CONFIG"); !env.empty()) return env;
  if (auto env = env_or_empty("SP_INSTANCE_DIR"); !env.empty()) {
    return std::filesystem::path(env) / "smartproduct.toml";
  }
  return kSystemConfigFile;
}

std::filesystem::path InstanceSelection::instance_dir() const {
  auto parent = config_file().parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

namespace {
void add_options(CLI::App* cmd, InstanceSelection& target) {
  cmd->add_option("--config", target.config,
                  "The instance's smartproduct.toml (default: $SMARTPRODUCT_CONFIG, "
                  "$SP_INSTANCE_DIR/smartproduct.toml, /etc/smartproduct/smartproduct.toml)");
  cmd->add_option("--dir", target.dir,
                  "The instance directory (same as --config DIR/smartproduct.toml)");
}
}  // namespace

std::shared_ptr<InstanceSelection> add_instance_options(CLI::App* cmd) {
  auto selection = std::make_shared<InstanceSelection>();
  add_options(cmd, *selection);
  return selection;
}

void add_root_instance_options(CLI::App& app) { add_options(&app, root_selection()); }

const InstanceSelection& root_instance_options() { return root_selection(); }

Result<config::DaemonConfig> load_instance_config(const std::string& file) {
  auto loaded = config::load_daemon_config(file);
  if (!loaded.config) {
    std::string all;
    for (const auto& e : loaded.errors) all += (all.empty() ? "" : "\n") + e;
    return fail(ErrorKind::kUnprocessable, "ConfigError", all);
  }
  return std::move(*loaded.config);
}

namespace {

template <class Read>
auto read_section(const config::DaemonConfig& c, const char* name, Read read)
    -> Result<decltype(read(std::declval<config::Section&>()))> {
  std::vector<std::string> errors;
  auto section = c.document->section(name, errors);
  auto settings = read(section);
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
    return fail(ErrorKind::kUnprocessable, "ConfigError", all);
  }
  return settings;
}

}  // namespace

Result<identity::IdentitySettings> identity_settings(const config::DaemonConfig& c) {
  return read_section(c, "identity", [&](config::Section& s) {
    return identity::read_identity_settings(s, c.storage.data_dir);
  });
}

Result<jitr::JitrSettings> jitr_settings(const config::DaemonConfig& c) {
  return read_section(c, "jitr", [](config::Section& s) { return jitr::read_jitr_settings(s); });
}

}  // namespace sp::cli
