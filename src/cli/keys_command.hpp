#pragma once
// `smartproductctl keys rotate|list`: the JWT signing keys of an instance ([identity] keys_dir).
// A rotation takes effect in the running daemon at its next sign-in, refresh or JWKS request (it
// watches keys.json), on SIGHUP, or at start.

#include <iosfwd>
#include <string>

#include "smartproduct/core/result.hpp"

namespace CLI {
class App;
}

namespace sp::cli {

Result<void> run_keys_rotate(const std::string& config, std::ostream& out);
Result<void> run_keys_list(const std::string& config, std::ostream& out);

/// Registers `keys rotate` and `keys list`.
void add_keys_command(CLI::App& app);

}  // namespace sp::cli
