#pragma once
// Where a smartproduct instance directory (created by `smartproductctl init --dir DIR`) keeps its
// files. Shared by every command that works on an instance.

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/settings.hpp"
#include "smartproduct/jitr/settings.hpp"

namespace sp::cli {

struct InstanceLayout {
  std::filesystem::path dir;  ///< absolute instance directory (PKI, broker files, data, logs)
  /// Where smartproduct.toml lives when it is kept apart from the rest (`init --data-dir`, the
  /// packaged /etc/smartproduct + /var/lib/smartproduct layout); empty: in `dir`.
  std::filesystem::path config_dir;

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

  std::filesystem::path config() const {
    return (config_dir.empty() ? dir : config_dir) / "smartproduct.toml";
  }
  std::filesystem::path data() const { return dir / "data"; }
  std::filesystem::path log() const { return dir / "log"; }
};

/// Builds the layout for `dir` (made absolute and lexically normalised). Refuses paths containing
/// control characters: they would break (or inject lines into) generated config files.
Result<InstanceLayout> make_layout(const std::filesystem::path& dir);

/// Where a command's instance is: the one rule every subcommand follows.
///   1. --config FILE, or --dir DIR (meaning DIR/smartproduct.toml), given after the subcommand;
///   2. the same options given before the subcommand (`smartproductctl --config F user list`);
///   3. $SMARTPRODUCT_CONFIG;
///   4. $SP_INSTANCE_DIR/smartproduct.toml (development instances);
///   5. /etc/smartproduct/smartproduct.toml (the packaged service).
/// The instance directory is the directory of that file.
inline constexpr const char* kSystemConfigFile = "/etc/smartproduct/smartproduct.toml";

struct InstanceSelection {
  std::string dir;     ///< --dir
  std::string config;  ///< --config
  /// This selection, else the root's, else the environment, else kSystemConfigFile.
  std::filesystem::path config_file() const;
  std::filesystem::path instance_dir() const;
};

/// Adds --dir and --config to a subcommand; the values are read when its callback runs.
std::shared_ptr<InstanceSelection> add_instance_options(CLI::App* cmd);
/// Adds --dir and --config to the root app (accepted before the subcommand).
void add_root_instance_options(CLI::App& app);
/// What was given before the subcommand (for init and restore, whose --dir names a new instance).
const InstanceSelection& root_instance_options();

/// Loads an instance's smartproduct.toml (for commands taking --config); every problem the loader
/// reports becomes one line of the error message.
Result<config::DaemonConfig> load_instance_config(const std::string& file);

/// The [identity] / [jitr] settings of a loaded instance, read by the same readers the daemon's
/// modules use, so the CLI and the daemon apply the same values.
Result<identity::IdentitySettings> identity_settings(const config::DaemonConfig& config);
Result<jitr::JitrSettings> jitr_settings(const config::DaemonConfig& config);

}  // namespace sp::cli
