#pragma once
// `smartproductctl demo`: a live demo fleet on a running instance in one command (also
// `./dev.sh run --demo`). It makes sure of a demo account, catalog entries for the demo serials
// and a managed device CA "demo" (straight on the instance's database, as `user add`, `catalog
// import` and `ca create` do), registers the devices for the account through the REST API (the
// path a customer's registration takes, so JITR activates them at their first connection), asks
// two of them for target temperatures far from theirs (events and alerts appear at once), and then
// becomes `smartproduct-sim run` for those devices until Ctrl-C. Running it again reuses all of
// it: nothing is duplicated.

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "smartproduct/core/result.hpp"

namespace CLI {
class App;
}

namespace sp::cli {

struct DemoOptions {
  std::string config;  ///< the instance's smartproduct.toml
  std::string email = "demo@example.com";
  bool password_stdin = false;  ///< else the saved one, else a generated one
  std::size_t devices = 5;
  std::string prefix = "DEMO-";
  std::string ca = "demo";  ///< managed CA issuing the devices' certificates (created if missing)
  std::string model = "25HNB9";
  int interval_ms = 5000;  ///< telemetry interval of the simulated devices
  double duration_s = 0;   ///< 0: until Ctrl-C
  double wait_s = 60;      ///< how long to wait for the daemon's /readyz
};

/// What the demo set up, for the printed summary and the simulator's command line.
struct DemoSetup {
  std::string email;
  std::string password;
  bool account_created = false;
  std::filesystem::path credentials_file;  ///< where the password is kept (mode 0600)
  std::filesystem::path cert_dir;          ///< the devices' certificates
  std::filesystem::path config_file;
  std::string console_url;
  std::vector<std::string> serials;
  std::size_t registered = 0;  ///< newly registered now (the rest were already)
};

/// Everything but the simulator: account, catalog, CA, registrations, target temperatures.
/// Progress lines go to `out`. Needs the daemon running (waits up to wait_s for /readyz).
Result<DemoSetup> prepare_demo(const DemoOptions& options, std::istream& password_in,
                               std::ostream& out);

/// The `smartproduct-sim run` command line (argv, program first) for a prepared demo.
std::vector<std::string> demo_simulator_command(const DemoOptions& options, const DemoSetup& setup,
                                                const std::string& sim, const std::string& ctl);

/// Registers `demo`.
void add_demo_command(CLI::App& app);

}  // namespace sp::cli
