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
  return InstanceLayout{normal};
}

std::filesystem::path resolve_instance_dir(const std::string& dir_option,
                                           const std::string& config_option) {
  if (!dir_option.empty()) return dir_option;
  if (!config_option.empty()) {
    auto parent = std::filesystem::path(config_option).parent_path();
    return parent.empty() ? std::filesystem::path(".") : parent;
  }
  if (const char* env = std::getenv("SP_INSTANCE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return ".";
}

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
