#pragma once
// smartproductctl doctor: the checks an operator runs when something is wrong, offline (the daemon
// may be down): the config (what `smartproductd --check-config` checks, in process), permissions
// and owners of private keys and data directories, certificates expired or expiring, the HTTPS and
// MQTT ports (who holds them), clock skew against the daemon's Date header when it runs, free disk
// against the disk guard. Each check prints ok/warn/fail and, unless ok, a one-line fix. Exit 1
// when any check fails (warnings alone exit 0).

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "instance_checks.hpp"

namespace sp::cli {

/// Runs every check on the instance of `config_file`; `now_s` is this host's time. When the config
/// cannot be loaded, that is the only (failing) result.
std::vector<CheckResult> run_doctor(const std::filesystem::path& config_file, std::int64_t now_s,
                                    long timeout_ms);
/// 1 when any result failed, else 0.
int doctor_exit_code(const std::vector<CheckResult>& results);

nlohmann::json doctor_json(const std::vector<CheckResult>& results);
void print_doctor(const std::vector<CheckResult>& results, std::ostream& out);

void add_doctor_command(CLI::App& app);

}  // namespace sp::cli
