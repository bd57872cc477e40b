#include "instance_info.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "cert_issuer.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/core/device_message.hpp"

namespace sp::sim {

namespace fs = std::filesystem;

void add_instance_options(CLI::App& cmd, std::string& config_file, std::string& dir) {
  auto* config_opt = cmd.add_option("--config", config_file, "The instance's smartproduct.toml")
                         ->check(CLI::ExistingFile);
  auto* dir_opt = cmd.add_option("--dir", dir, "The instance directory (smartproductctl init)")
                      ->check(CLI::ExistingDirectory);
  config_opt->excludes(dir_opt);
}

void add_device_cert_options(CLI::App& cmd, std::string& prefix, std::string& cert_dir,
                             std::string& ca, std::string& ctl) {
  cmd.add_option("--prefix", prefix, "Serial prefix")->capture_default_str();
  cmd.add_option("--ca", ca,
                 "Managed CA (smartproductctl ca create --name) issuing missing device "
                 "certificates");
  cmd.add_option("--cert-dir", cert_dir,
                 "Device certificates SN.crt/SN.key (issued if missing, reused if present; "
                 "default <instance>/sim/certs)");
  cmd.add_option("--ctl", ctl, "smartproductctl to run (default: next to this program)");
}

InstanceInfo load_instance(const std::string& config_file, const std::string& dir) {
  if (config_file.empty() && dir.empty()) {
    throw std::runtime_error("give the instance: --config FILE or --dir DIR");
  }
  const fs::path file =
      config_file.empty() ? fs::path(dir) / "smartproduct.toml" : fs::path(config_file);
  auto loaded = config::load_daemon_config(file);
  if (!loaded.config) {
    std::string all;
    for (const auto& e : loaded.errors) all += "\n  " + e;
    throw std::runtime_error("cannot load " + file.string() + ":" + all);
  }
  const auto& c = *loaded.config;
  InstanceInfo info;
  info.config_file = c.file;
  info.dir = c.file.parent_path();
  info.root_ca = c.broker.ca_file;
  info.broker.host = c.broker.host;
  info.broker.port = c.broker.port;
  info.broker.cafile = c.broker.ca_file.string();
  // A wildcard listen address is no place to connect to; the development certificates name
  // 127.0.0.1 (and localhost).
  const std::string host =
      c.http.listen == "0.0.0.0" || c.http.listen == "::" || c.http.listen.empty() ? "127.0.0.1"
                                                                                   : c.http.listen;
  info.api_url = fmt::format(
      "https://{}:{}", host.find(':') != std::string::npos ? "[" + host + "]" : host, c.http.port);
  // The simulator is lenient: a bad section is the daemon's to report.
  std::vector<std::string> ignored;
  auto telemetry = c.document->section("telemetry", ignored);
  info.telemetry_prefix = read_ingest_settings(telemetry, kDefaultTelemetryTopic).topic;
  auto events = c.document->section("events", ignored);
  info.event_prefix = read_ingest_settings(events, kDefaultEventTopic).topic;
  return info;
}

std::vector<DeviceIdentity> provision_devices(const InstanceInfo& instance,
                                              const fs::path& cert_dir,
                                              const std::vector<std::string>& serials,
                                              const std::string& ca_name, const std::string& ctl) {
  auto devices = identities_in(cert_dir, serials);
  auto missing = missing_credentials(devices);
  if (!missing.empty()) {
    spdlog::info("issuing {} device certificates into {}", missing.size(), cert_dir.string());
    issue_device_certs(ctl.empty() ? default_ctl_path() : ctl, instance.dir, cert_dir, missing,
                       std::max(1U, std::thread::hardware_concurrency()), ca_name);
    missing = missing_credentials(devices);
  }
  if (!missing.empty()) {
    throw std::runtime_error(fmt::format("{} of {} devices have no {}/SN.crt + SN.key (first: {})",
                                         missing.size(), devices.size(), cert_dir.string(),
                                         missing.front()));
  }
  return devices;
}

std::pair<InstanceInfo, std::vector<DeviceIdentity>> load_fleet(const FleetOptions& o) {
  auto instance = load_instance(o.config_file, o.dir);
  if (!o.host.empty()) instance.broker.host = o.host;
  if (o.port > 0) instance.broker.port = o.port;
  const fs::path cert_dir =
      o.cert_dir.empty() ? instance.dir / "sim" / "certs" : fs::path(o.cert_dir);
  auto identities =
      provision_devices(instance, cert_dir, make_serials(o.prefix, o.count), o.ca, o.ctl);
  return {std::move(instance), std::move(identities)};
}

}  // namespace sp::sim
