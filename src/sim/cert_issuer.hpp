#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace sp::sim {

/// The smartproductctl next to this executable if there is one, else "smartproductctl" (PATH).
std::string default_ctl_path();

/// Issues a device certificate for each serial by running `<ctl> device-cert issue --dir
/// <instance_dir> [--ca <ca>] --serial SN --out <out_dir>` (no shell), at most `parallelism` at a
/// time. `ca` names a managed CA of the instance (`smartproductctl ca create`); empty: the
/// instance's only managed CA. Writes OUT/SN.crt and OUT/SN.key. Throws std::runtime_error naming
/// the first serial that failed (the tool's own error is on stderr).
void issue_device_certs(const std::string& ctl, const std::filesystem::path& instance_dir,
                        const std::filesystem::path& out_dir,
                        const std::vector<std::string>& serials, unsigned parallelism,
                        const std::string& ca = {});

}  // namespace sp::sim
