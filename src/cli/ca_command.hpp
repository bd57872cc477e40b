#pragma once
// `smartproductctl ca ...`: registered device CAs of an instance, the CLI side of
// /api/admin/cas (create a managed CA, register your own with proof of possession, activate,
// deactivate, auto-registration, deregister, list). Opens the instance's store directly (the
// daemon may be running: SQLite WAL) and bumps the broker state revision after every change, so a
// running daemon re-sends the plugin's state.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/pki/ca_service.hpp"

namespace CLI {
class App;
}

namespace sp::cli {

/// An instance's store and CA service, open for the duration of one command.
class CaContext {
 public:
  static Result<std::unique_ptr<CaContext>> open(const std::filesystem::path& config_file);
  ~CaContext();

  pki::CaService& service();
  /// Tells a running daemon to re-send the broker plugin's state.
  Result<void> bump_broker_state_revision();
  Result<std::int64_t> broker_state_revision();
  /// Names of the registered CAs whose key the platform keeps.
  Result<std::vector<std::string>> managed_names();
  const config::DaemonConfig& config() const;

 private:
  struct Impl;
  explicit CaContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Registers `ca` and its subcommands.
void add_ca_command(CLI::App& app);

}  // namespace sp::cli
