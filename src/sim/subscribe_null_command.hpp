#pragma once

#include <CLI/CLI.hpp>

#include "publish_command.hpp"

namespace sp::sim {

/// Adds `subscribe-null`: a service-account subscriber that only counts messages and prints the
/// rate (the bare-broker baseline of the ingest benchmark).
Subcommand add_subscribe_null_command(CLI::App& app);

}  // namespace sp::sim
