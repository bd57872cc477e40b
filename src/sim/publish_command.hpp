#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace sp::sim {

/// Exit codes of the simulator's subcommands.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,             ///< bad options, missing files, setup failure
  kExitConnectRefused = 2,    ///< the broker refused a CONNECT (or a SUBSCRIBE)
  kExitConnectionFailed = 3,  ///< TCP/TLS failure, or connection lost without --reconnect
  kExitIncomplete = 4,        ///< messages refused (PUBACK >= 0x80) or never acknowledged
  kExitResourceLimit = 5,     ///< out of file descriptors (RLIMIT_NOFILE) for the devices asked
};

/// A subcommand: its parser and what to run once it was parsed (returns the exit code).
struct Subcommand {
  CLI::App* parser = nullptr;
  std::function<int()> run;
};

/// Adds `publish`: N devices publish telemetry (QoS 0/1) as fast as the broker takes it (bounded
/// by --inflight) and print sent/acked/refused/elapsed/msg/s.
Subcommand add_publish_command(CLI::App& app);

}  // namespace sp::sim
