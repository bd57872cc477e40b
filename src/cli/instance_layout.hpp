#pragma once
// Where a smartproduct instance directory (created by `smartproductctl init --dir DIR`) keeps its
// files. Shared by every command that works on an instance.

#include <filesystem>
#include <string>

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/settings.hpp"
#include "smartproduct/jitr/settings.hpp"

namespace sp::cli {

struct InstanceLayout {
  std::filesystem::path dir;  ///< absolute instance directory

  std::filesystem::path pki() const { return dir / "pki"; }
  std::filesystem::path root_ca_cert() const { return pki() / "root-ca.crt"; }
  std::filesystem::path root_ca_key() const { return pki() / "root-ca.key"; }
  std::filesystem::path https_cert() const { return pki() / "https.crt"; }
  std::filesystem::path https_key() const { return pki() / "https.key"; }
  std::filesystem::path backend_cert() const { return pki() / "svc-backend.crt"; }
  std::filesystem::path backend_key() const { return pki() / "svc-backend.key"; }

  /// Everything mosquitto reads (it may run as the `mosquitto` user).
  std::filesystem::path broker() const { return dir / "broker"; }
  std::filesystem::path broker_cafile() const { return broker() / "root-ca.crt"; }
  std::filesystem::path broker_cert() const { return broker() / "server.crt"; }
  std::filesystem::path broker_key() const { return broker() / "server.key"; }
  std::filesystem::path device_cas() const { return broker() / "device-cas"; }
  std::filesystem::path broker_state() const { return broker() / "state.json"; }
  std::filesystem::path services_acl() const { return broker() / "services.acl"; }
  std::filesystem::path persistence() const { return broker() / "persistence"; }
  std::filesystem::path mosquitto_conf() const { return broker() / "mosquitto.conf"; }
  std::filesystem::path plugin() const { return broker() / "mosquitto_smartproduct.so"; }

  std::filesystem::path config() const { return dir / "smartproduct.toml"; }
  std::filesystem::path data() const { return dir / "data"; }
  std::filesystem::path log() const { return dir / "log"; }
};

/// Builds the layout for `dir` (made absolute and lexically normalised). Refuses paths containing
/// control characters: they would break (or inject lines into) generated config files.
Result<InstanceLayout> make_layout(const std::filesystem::path& dir);

/// The instance directory used by commands that take one: `--dir` if given, else the directory of
/// `--config`, else $SP_INSTANCE_DIR, else the current directory.
std::filesystem::path resolve_instance_dir(const std::string& dir_option,
                                           const std::string& config_option);

/// Loads an instance's smartproduct.toml (for commands taking --config); every problem the loader
/// reports becomes one line of the error message.
Result<config::DaemonConfig> load_instance_config(const std::string& file);

/// The [identity] / [jitr] settings of a loaded instance, read by the same readers the daemon's
/// modules use, so the CLI and the daemon apply the same values.
Result<identity::IdentitySettings> identity_settings(const config::DaemonConfig& config);
Result<jitr::JitrSettings> jitr_settings(const config::DaemonConfig& config);

}  // namespace sp::cli
