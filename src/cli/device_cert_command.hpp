#pragma once
// `smartproductctl device-cert issue`: a device certificate from one of the instance's managed CAs
// (`smartproductctl ca create`), written as the device presents it (certificate followed by its CA
// certificate) plus its key; or, with --csr, the device's own CSR signed (no key written).

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
  std::filesystem::path instance_dir;  ///< the instance (its smartproduct.toml)
  std::filesystem::path config;        ///< smartproduct.toml; empty: instance_dir/smartproduct.toml
  /// Managed CA name; empty: the only managed CA (an error names them when there are several).
  std::string ca;
  /// A PKCS#10 CSR (PEM file) to sign instead of generating a key; its CN must be the serial.
  std::filesystem::path csr;
  int days = kDeviceCertDefaultDays;
  bool force = false;  ///< replace an existing OUT/SN.key
};

struct DeviceCertResult {
  std::filesystem::path cert_path;
  std::filesystem::path key_path;  ///< empty with a CSR
  std::string ca_name;
  pki::CertInfo info;
};

/// Issues the certificate. Refuses (kConflict "KeyExists") before issuing anything when
/// OUT/SN.key exists and `force` is false. Errors: SerialInvalid, ManagedCaMissing (none or
/// several managed CAs and no --ca), CaNotFound, CaNotManaged, CsrCommonNameMismatch.
Result<DeviceCertResult> issue_device_cert(const DeviceCertOptions& options);

/// Registers `device-cert` with its `issue` subcommand.
void add_device_cert_command(CLI::App& app);

}  // namespace sp::cli
