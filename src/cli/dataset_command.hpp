#pragma once
// smartproductctl dataset list | run NAME [--out FILE]: telemetry datasets on the instance's files.

#include <CLI/CLI.hpp>

namespace sp::cli {

void add_dataset_command(CLI::App& app);

}  // namespace sp::cli
