#pragma once
// `smartproductctl init`: creates (or completes) a development instance directory: platform PKI,
// broker files (mosquitto.conf, certificates, capath, ACL, plugin), smartproduct.toml, data/, log/.

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "instance_layout.hpp"
#include "smartproduct/core/result.hpp"

namespace CLI {
class App;
}

namespace sp::cli {

/// Validity of what init issues.
inline constexpr int kCaValidityDays = 3650;
inline constexpr int kLeafValidityDays = 825;

struct InitOptions {
  std::filesystem::path dir;  ///< where smartproduct.toml goes (and everything else by default)
  /// Keeps PKI, broker files, data and logs here instead of in `dir`, and writes absolute paths
  /// into smartproduct.toml (FHS: `--dir /etc/smartproduct --data-dir /var/lib/smartproduct`).
  std::filesystem::path data_dir;
  /// The system user the daemon (and its managed broker) runs as (`--user`, root only): owns the
  /// data directory; smartproduct.toml is root:<its group> 0640; no `user` line for mosquitto.
  std::string service_user;
  int http_port = 8443;
  int mqtt_port = 8883;
  std::string hostname;  ///< extra SAN for the server certificates; empty: gethostname()
  bool force = false;    ///< regenerate keys, certificates and configs (never broker/state.json)
  /// [jitr] enabled and the plugin's require_activation (`init --jitr on|off`).
  bool jitr = true;
  std::string plugin;  ///< plugin .so to install; empty: look next to the executable
  /// Where to look for mosquitto_smartproduct.so when `plugin` is empty; empty: the directory of
  /// /proc/self/exe. Tests point it at an empty directory to be independent of the build.
  std::filesystem::path exe_dir;
};

struct InitReport {
  InstanceLayout layout;
  std::vector<std::string> created;  ///< paths relative to the instance directory
  std::vector<std::string> updated;  ///< "path (reason)"
  std::vector<std::string> kept;
  std::vector<std::string> warnings;
  bool plugin_enabled = false;    ///< mosquitto.conf loads the plugin
  bool privileged_setup = false;  ///< `user mosquitto` + chown were applied (run as root)
};

/// Creates or completes the instance. Existing keys are never replaced unless `force`; existing
/// certificates are kept when they still match their key, their issuer, validity and SANs, and are
/// otherwise re-issued for the same key.
Result<InitReport> run_init(const InitOptions& options);

/// Human-readable summary with the next step.
void print_init_report(const InitReport& report, std::ostream& out);

/// When run as root and the `mosquitto` user exists: gives the broker's files to that user and
/// makes DIR and DIR/broker traversable (mosquitto drops to it); parents that are not traversable
/// are reported in `warnings`. Used by init and by restore.
Result<void> grant_broker_access(const InstanceLayout& layout, std::vector<std::string>& warnings);

/// Registers the `init` subcommand.
void add_init_command(CLI::App& app);

}  // namespace sp::cli
