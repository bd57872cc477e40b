#pragma once

#include <CLI/CLI.hpp>

#include "publish_command.hpp"

namespace sp::sim {

/// Adds `run`: N devices behaving like the seed's simulated ones (see device_model.hpp) with
/// certificates from a managed CA, each on its own persistent MQTT v5 session, until SIGINT/SIGTERM
/// or --duration-s; optionally registers them for a user first (--register-as).
Subcommand add_run_command(CLI::App& app);

}  // namespace sp::sim
