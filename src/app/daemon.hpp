#pragma once
// The running daemon: owns the store, the broker supervisor, the MQTT client, the HTTP server and
// the modules, and starts/stops them in dependency order.

#include <memory>
#include <string>
#include <vector>

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/module.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::app {

class Daemon {
 public:
  /// `modules`: configured (app/modules.hpp), in dependency order.
  Daemon(config::DaemonConfig config, std::vector<std::unique_ptr<Module>> modules);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Opens the store, starts (or adopts) the managed broker, connects MQTT and starts serving.
  /// On failure returns a one-line error naming the file/key/port at fault.
  Result<void> start();
  /// SIGHUP: re-read the log level, reload TLS certificates, let the broker reload too.
  void reload();
  /// Why the daemon is not ready (empty: database open and broker connected), as /readyz says.
  std::vector<std::string> readiness() const;
  /// SIGTERM: stop accepting, finish in-flight requests and writes, disconnect, stop the broker.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::app
