#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace sp::sim {

enum class Protocol { kV5, kV311 };

/// How to reach the broker: shared by every subcommand.
struct BrokerOptions {
  std::string host = "localhost";
  int port = 8883;
  std::string
      cafile;  ///< trust anchor for the broker's certificate (the instance's pki/root-ca.crt)
  Protocol protocol = Protocol::kV5;
  int keepalive_s = 30;
  bool insecure = false;  ///< skip the host name check (the chain is still verified)
};

/// Adds --host --port --cafile --protocol --keepalive --insecure to `cmd`.
void add_broker_options(CLI::App& cmd, BrokerOptions& options);

/// Installs SIGINT/SIGTERM handlers that set stop_requested() (first signal: graceful stop).
void install_stop_signals();
bool stop_requested();

}  // namespace sp::sim
