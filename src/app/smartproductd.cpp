// smartproductd: the composition root. It is the only place that reads the configuration and picks
// concrete types; modules get typed settings and interfaces.

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/broker_supervisor.hpp"
#include "app/daemon.hpp"
#include "app/modules.hpp"
#include "app/systemd_notify.hpp"
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

// Tells systemd (Type=notify) when the daemon is ready, i.e. when /readyz would say 200 (database
// open, broker connected), keeps STATUS= current, and sends WATCHDOG=1 while the database is
// healthy: a daemon whose writer failed stops pinging and systemd restarts it.
class SystemdSupervision {
 public:
  SystemdSupervision(const sp::app::Daemon& daemon, sp::app::SystemdNotifier notifier)
      : daemon_(daemon), notifier_(std::move(notifier)) {
    if (notifier_.enabled()) thread_ = std::thread([this] { run(); });
  }
  ~SystemdSupervision() { stop(); }
  void notify(std::string_view state) const { notifier_.notify(state); }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    using namespace std::chrono;
    const auto tick = std::min<microseconds>(notifier_.watchdog_interval().value_or(seconds(1)),
                                             milliseconds(200));
    auto next_ping = steady_clock::now();
    bool ready = false;
    std::string last_status;
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, tick, [this] { return stopping_; })) {
      auto reasons = daemon_.readiness();
      std::string status = reasons.empty() ? "ready" : "waiting: " + reasons.front();
      if (!ready && reasons.empty()) {
        ready = true;
        notifier_.notify("READY=1\nSTATUS=" + status);
        last_status = status;
      } else if (status != last_status) {
        notifier_.notify("STATUS=" + status);
        last_status = status;
      }
      const bool database_ok =
          std::none_of(reasons.begin(), reasons.end(),
                       [](const std::string& r) { return r.starts_with("database"); });
      if (notifier_.watchdog_interval() && database_ok && steady_clock::now() >= next_ping) {
        notifier_.notify("WATCHDOG=1");
        next_ping = steady_clock::now() + *notifier_.watchdog_interval();
      }
    }
  }

  const sp::app::Daemon& daemon_;
  sp::app::SystemdNotifier notifier_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

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

  sp::logging::setup(loaded.config->log.sink, loaded.config->log.level, loaded.config->log.format);
  raise_open_file_limit();
  sp::app::Daemon daemon(*loaded.config, std::move(loaded.modules));
  if (auto started = daemon.start(); !started) {
    spdlog::critical("{}", started.error().message);
    std::fprintf(stderr, "smartproductd: %s\n", started.error().message.c_str());
    daemon.stop();
    return 1;
  }

  SystemdSupervision systemd(daemon, sp::app::SystemdNotifier::from_environment());
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      systemd.notify("RELOADING=1");
      daemon.reload();
      if (daemon.readiness().empty()) systemd.notify("READY=1");
      continue;
    }
    spdlog::info("received {}; stopping gracefully", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  systemd.notify("STOPPING=1");
  systemd.stop();
  daemon.stop();
  spdlog::info("stopped");
  return 0;
}
