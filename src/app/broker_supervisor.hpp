#pragma once
// Managed broker (development default): the daemon runs mosquitto as a child with the generated
// config, waits until it accepts mutual-TLS connections, restarts it with back-off if it dies, and
// stops it on exit. The broker runs in its own session and logs to a file, so a daemon crash
// (kill -9) does not take the broker and its queued messages with it: the next daemon start adopts
// the running broker through the pid file instead of starting a second one.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "smartproduct/core/result.hpp"

namespace sp::app {

struct BrokerSupervisorConfig {
  std::filesystem::path mosquitto_bin;
  std::filesystem::path mosquitto_conf;
  std::string host;
  uint16_t port = 8883;
  // Used to prove readiness with a real mutual-TLS handshake.
  std::filesystem::path ca_file, cert, key;
};

class BrokerSupervisor {
 public:
  explicit BrokerSupervisor(BrokerSupervisorConfig config);
  ~BrokerSupervisor();

  /// Adopts a broker already running with our config, or starts one; returns when it accepts a
  /// TLS handshake, or an error with the broker's last log lines.
  Result<void> start(std::chrono::milliseconds ready_timeout);
  /// SIGTERM, then SIGKILL after `grace`. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  /// Forwards SIGHUP (the broker reloads certificates; our plugin re-reads its state file).
  void reload();
  /// Stops the broker (SIGTERM) and starts it again at once. mosquitto 2.0.11 keeps every capath
  /// CA it has used in its TLS store until it exits (SIGHUP reloads only certfile, keyfile and
  /// crlfile), so this is how a CA removed from the capath stops being trusted by TLS.
  void restart();
  int pid() const { return pid_.load(); }
  std::filesystem::path log_file() const { return log_file_; }

 private:
  Result<void> spawn();
  Result<void> wait_ready(std::chrono::milliseconds timeout);
  void monitor();
  bool alive() const;
  std::string log_tail(std::size_t lines) const;

  BrokerSupervisorConfig config_;
  std::filesystem::path pid_file_;
  std::filesystem::path log_file_;
  std::atomic<int> pid_{0};
  bool own_child_ = false;  // spawned by this process (waitpid works) or adopted (poll kill 0)
  std::atomic<bool> stopping_{false};
  std::atomic<bool> restart_requested_{false};
  std::thread monitor_;
  std::mutex mutex_;
  std::condition_variable wake_;
};

/// One mutual-TLS handshake to host:port with the given client certificate; true on success.
bool probe_tls(const std::string& host, uint16_t port, const std::filesystem::path& ca_file,
               const std::filesystem::path& cert, const std::filesystem::path& key,
               std::string* error);

}  // namespace sp::app
