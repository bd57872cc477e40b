#pragma once
// smartproductctl audit run: runs the security audit against the instance's database and files.

#include <CLI/CLI.hpp>

namespace sp::cli {

void add_audit_command(CLI::App& app);

}  // namespace sp::cli
