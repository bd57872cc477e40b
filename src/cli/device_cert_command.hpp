#pragma once
// `smartproductctl device-cert issue`: a device certificate from the instance's development device
// CA, written as the device presents it (certificate followed by its CA certificate) plus its key.

#include <filesystem>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"
#include "smartproduct/pki/pki.hpp"

namespace CLI {
class App;
}

namespace sp::cli {

inline constexpr int kDeviceCertDefaultDays = 3650;

/// Device serial numbers (= certificate CN = MQTT client id): [A-Za-z0-9:_-]{1,128}.
bool is_valid_device_serial(std::string_view serial);

struct DeviceCertOptions {
  std::string serial;
  std::filesystem::path out_dir;
  std::filesystem::path instance_dir;  ///< holds pki/dev-device-ca.{crt,key}
  int days = kDeviceCertDefaultDays;
  bool force = false;  ///< replace an existing OUT/SN.key
};

struct DeviceCertResult {
  std::filesystem::path cert_path;
  std::filesystem::path key_path;
  pki::CertInfo info;
};

/// Issues the certificate. Refuses (kConflict "KeyExists") before issuing anything when
/// OUT/SN.key exists and `force` is false.
Result<DeviceCertResult> issue_device_cert(const DeviceCertOptions& options);

/// Registers `device-cert` with its `issue` subcommand.
void add_device_cert_command(CLI::App& app);

}  // namespace sp::cli
