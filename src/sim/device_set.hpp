#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sp::sim {

/// One simulated device: its serial (= certificate CN = MQTT client id) and credential files.
struct DeviceIdentity {
  std::string serial;
  std::filesystem::path cert;  ///< device certificate followed by its CA (as devices present it)
  std::filesystem::path key;
};

/// The seed console's serial character set `^[a-zA-Z0-9-_:]+$`, at most 128 characters. Serials
/// become file names and topic levels, so anything else (`/`, `..`, `+`, `#`) is refused.
bool is_valid_serial(std::string_view serial);

/// `prefix` followed by the 1-based index zero-padded to 5 digits: ("SIM-", 1) -> "SIM-00001".
std::string make_serial(std::string_view prefix, std::size_t index);

/// Splits "SN1,SN2,..." (blanks around items ignored); throws std::invalid_argument on an invalid
/// or duplicate serial or an empty list.
std::vector<std::string> parse_serial_list(std::string_view csv);

/// `count` serials `prefix`00001...; throws std::invalid_argument if they would be invalid.
std::vector<std::string> make_serials(std::string_view prefix, std::size_t count);

/// Credential paths `cert_dir/SN.crt` and `cert_dir/SN.key` for each serial.
std::vector<DeviceIdentity> identities_in(const std::filesystem::path& cert_dir,
                                          const std::vector<std::string>& serials);

/// The serials whose certificate or key file is missing.
std::vector<std::string> missing_credentials(const std::vector<DeviceIdentity>& devices);

}  // namespace sp::sim
