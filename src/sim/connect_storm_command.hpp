#pragma once

#include <CLI/CLI.hpp>

#include "publish_command.hpp"

namespace sp::sim {

/// Adds `connect-storm`: N devices connect with at most K connections open at a time; each waits
/// for CONNACK (and with --wait-active until a probe publish gets PUBACK 0, i.e. JITR activated
/// it), then disconnects. Prints connect and activation rates (the JITR benchmark's driver).
Subcommand add_connect_storm_command(CLI::App& app);

}  // namespace sp::sim
