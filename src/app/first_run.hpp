#pragma once
// The hint a newcomer needs at the first start of an instance that has no account yet: where the
// console is and the two ways in (sign up in the console, or create the first administrator with
// smartproductctl). Written to the daemon's log, so it reaches a terminal (./dev.sh run) and the
// journal (the packaged service) alike.

#include <filesystem>
#include <string>
#include <vector>

namespace sp::app {

struct FirstRunFacts {
  std::string console_url;            ///< https://HOST:PORT/
  std::filesystem::path config_file;  ///< the daemon's smartproduct.toml
  /// No [identity] smtp_url: verification codes are written to the daemon's log.
  bool codes_in_log = true;
  /// How to call the CLI: "smartproductctl" when installed, else the path next to smartproductd.
  std::string ctl = "smartproductctl";
  /// The service user when run by systemd as one (CLI commands that write the databases must run
  /// as that user so files keep their owner); empty otherwise.
  std::string service_user;
};

/// The hint's lines, in order (no trailing newlines).
std::vector<std::string> first_run_hint(const FirstRunFacts& facts);

/// The CLI to name in the hint for a daemon at `daemon_exe`: the smartproductctl next to it when
/// that is a build tree, else plain "smartproductctl" (installed in /usr/bin, or not found).
std::string ctl_next_to(const std::filesystem::path& daemon_exe);

/// The user this process runs as when systemd started it as a service user ($INVOCATION_ID set,
/// not root); empty otherwise.
std::string systemd_service_user();

}  // namespace sp::app
