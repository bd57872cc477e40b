#pragma once
// `smartproductctl user add|list`: operator account management straight on the instance's database
// (safe while the daemon runs: SQLite WAL, and the daemon reads the user row on every request).

#include <iosfwd>
#include <string>

#include "smartproduct/core/result.hpp"

namespace CLI {
class App;
}

namespace sp::cli {

struct UserAddOptions {
  std::string config;
  std::string email;
  std::string name;
  std::string phone;
  bool admin = false;
};

/// Creates a verified, enabled account (and its default settings row) with the password read from
/// `password_in` (first line). Prints the new user id to `out`.
Result<void> run_user_add(const UserAddOptions& options, std::istream& password_in,
                          std::ostream& out);
/// Prints every account, one per line.
Result<void> run_user_list(const std::string& config, std::ostream& out);

/// Registers `user add` and `user list`.
void add_user_command(CLI::App& app);

}  // namespace sp::cli
