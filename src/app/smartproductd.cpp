// smartproductd: the composition root. It is the only place that reads the configuration and picks
// concrete types; modules get typed settings and interfaces.

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>

#include "app/broker_supervisor.hpp"
#include "app/daemon.hpp"
#include "app/modules.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/core/logging.hpp"

namespace {

// Each connected device is a socket in the broker, and a managed broker inherits this process's
// limits: raise the soft open-file limit to the hard one (systemd's default soft limit is 1024,
// which caps a fleet at ~1,000 connected devices) and say what the fleet can be.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  constexpr rlim_t kRecommended = 65536;
  if (limit.rlim_cur < kRecommended) {
    spdlog::warn(
        "open files limit is {}: the broker needs one per connected device (raise LimitNOFILE / "
        "ulimit -n to at least {})",
        static_cast<unsigned long long>(limit.rlim_cur),
        static_cast<unsigned long long>(kRecommended));
  } else {
    spdlog::info("open files limit {}", static_cast<unsigned long long>(limit.rlim_cur));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"smartproductd: self-hosted IoT backend (MQTT over mutual TLS, HTTPS API, console)"};
  std::string config_file;
  bool check_only = false;
  bool version = false;
  cli.add_option("-c,--config", config_file, "configuration file (smartproduct.toml)");
  cli.add_flag("--check-config", check_only, "validate the configuration and exit");
  cli.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(cli, argc, argv);

  if (version) {
    std::cout << "smartproductd " << SP_VERSION << "\n";
    return 0;
  }
  if (config_file.empty()) {
    std::cerr << "smartproductd: --config FILE is required (see smartproductctl init)\n";
    return 2;
  }
  auto loaded = sp::app::load_configuration(config_file);
  if (!loaded.config) {
    for (auto& e : loaded.errors) std::cerr << "smartproductd: " << e << "\n";
    return 2;
  }
  if (check_only) {
    std::cout << "smartproductd: " << loaded.config->file.string() << ": configuration is valid\n";
    return 0;
  }

  // Signals are handled synchronously by the main thread: block them before any thread starts so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  sp::logging::setup(loaded.config->log.sink, loaded.config->log.level);
  raise_open_file_limit();
  sp::app::Daemon daemon(*loaded.config, std::move(loaded.modules));
  if (auto started = daemon.start(); !started) {
    spdlog::critical("{}", started.error().message);
    std::fprintf(stderr, "smartproductd: %s\n", started.error().message.c_str());
    daemon.stop();
    return 1;
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      daemon.reload();
      continue;
    }
    spdlog::info("received {}; stopping gracefully", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  daemon.stop();
  spdlog::info("stopped");
  return 0;
}
