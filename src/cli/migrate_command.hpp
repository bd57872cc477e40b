#pragma once
// `smartproductctl migrate [--dry-run]`: shows each database's schema version and the migrations a
// new smartproduct version would apply, and applies them (the daemon also does at start). A
// database from a newer version is refused with the versions named, never touched.

#include <CLI/CLI.hpp>

namespace sp::cli {

void add_migrate_command(CLI::App& app);

}  // namespace sp::cli
