#pragma once
// The running daemon: owns the store, the broker supervisor, the MQTT client, the HTTP server and
// the modules, and starts/stops them in dependency order.

#include <memory>

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::app {

class Daemon {
 public:
  explicit Daemon(config::DaemonConfig config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Opens the store, starts (or adopts) the managed broker, connects MQTT and starts serving.
  /// On failure returns a one-line error naming the file/key/port at fault.
  Result<void> start();
  /// SIGHUP: re-read the log level, reload TLS certificates, let the broker reload too.
  void reload();
  /// SIGTERM: stop accepting, finish in-flight requests and writes, disconnect, stop the broker.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::app
