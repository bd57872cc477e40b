#pragma once

#include <CLI/CLI.hpp>

#include "publish_command.hpp"

namespace sp::sim {

/// Adds `shadow-bench`: N devices (certificates from a managed CA) each send --updates shadow
/// updates one after the other and time each until its `update/accepted` (mode shadow), or publish
/// on their own command topic and time each until the broker delivers it back to them (mode echo:
/// the bare broker's publish -> subscribe round trip). Prints p50/p99 and updates/s.
Subcommand add_shadow_bench_command(CLI::App& app);

}  // namespace sp::sim
