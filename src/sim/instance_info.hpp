#pragma once
// What the `run` and `connect-storm` subcommands read from an instance (smartproductctl init):
// where the broker and the API listen, the trust anchor, topic prefixes; and the device
// credentials they issue there.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "broker_options.hpp"
#include "device_set.hpp"

namespace sp::sim {

struct InstanceInfo {
  std::filesystem::path dir;          ///< the instance directory
  std::filesystem::path config_file;  ///< its smartproduct.toml
  BrokerOptions broker;               ///< host/port/cafile of the broker from [broker]
  std::string api_url;                ///< https://HOST:PORT of the REST API from [http]
  std::filesystem::path root_ca;      ///< trust anchor of the broker and the API (pki/root-ca.crt)
  std::string telemetry_prefix = "smartproduct/telemetry";
  std::string event_prefix = "smartproduct/event";
};

/// Loads the instance from `config_file` (its smartproduct.toml) or, when that is empty, from
/// `dir`/smartproduct.toml. Throws std::runtime_error listing the config's problems.
InstanceInfo load_instance(const std::string& config_file, const std::string& dir);

/// Adds --config and --dir (one of them required) to `cmd`.
void add_instance_options(CLI::App& cmd, std::string& config_file, std::string& dir);

/// Adds --prefix, --cert-dir, --ca and --ctl: which serials and where their certificates come from.
void add_device_cert_options(CLI::App& cmd, std::string& prefix, std::string& cert_dir,
                             std::string& ca, std::string& ctl);

/// Credentials `cert_dir/SN.crt|key` for `serials`; the missing ones are issued from the managed
/// CA `ca_name` of the instance (empty: the tool's default) with smartproductctl, existing ones
/// are reused. Throws std::runtime_error when some are still missing.
std::vector<DeviceIdentity> provision_devices(const InstanceInfo& instance,
                                              const std::filesystem::path& cert_dir,
                                              const std::vector<std::string>& serials,
                                              const std::string& ca_name, const std::string& ctl);

/// Where a fleet command's devices come from: the instance, an optional broker override and the
/// device certificate options (see add_device_cert_options).
struct FleetOptions {
  std::string config_file, dir;
  std::string host;  ///< empty: from the config
  int port = 0;      ///< 0: from the config
  std::string cert_dir, prefix, ca, ctl;
  std::size_t count = 0;
};

/// The FleetOptions of a command's argument struct (fields named as above) for `count` devices.
template <class Args>
FleetOptions fleet_options(const Args& a, std::size_t count) {
  return {.config_file = a.config_file,
          .dir = a.dir,
          .host = a.host,
          .port = a.port,
          .cert_dir = a.cert_dir,
          .prefix = a.prefix,
          .ca = a.ca,
          .ctl = a.ctl,
          .count = count};
}

/// load_instance with the broker override applied, and provision_devices for `count` serials
/// `prefix`00001... (under `cert_dir`, default <instance>/sim/certs). Throws std::runtime_error.
std::pair<InstanceInfo, std::vector<DeviceIdentity>> load_fleet(const FleetOptions& o);

}  // namespace sp::sim
