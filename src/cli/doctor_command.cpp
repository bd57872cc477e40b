#include "doctor_command.hpp"

#include <fmt/format.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <set>

#include "app/modules.hpp"
#include "instance_layout.hpp"
#include "smartproduct/audit/service.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/telemetry/retention.hpp"
#include "status_command.hpp"
#include "store/sqlite/store.hpp"

namespace sp::cli {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

CheckResult ok(std::string check, std::string message) {
  return {std::move(check), CheckLevel::kOk, std::move(message), ""};
}

// The user the service runs as: the running daemon's, else the owner of the data directory (the
// daemon must write there, so whoever owns it is who the instance was set up for).
uid_t service_uid(const DaemonState& daemon, std::uint16_t http_port, const fs::path& data_dir) {
  if (daemon.running) {
    if (auto use = port_use(http_port); use.pid > 0) {
      auto proc = file_facts(fs::path("/proc") / std::to_string(use.pid));
      if (proc.exists) return proc.uid;
    }
  }
  auto facts = file_facts(data_dir);
  return facts.exists ? facts.uid : ::geteuid();
}

void check_config(const fs::path& file, std::vector<CheckResult>& out) {
  auto all = app::load_configuration(file);
  if (all.errors.empty()) {
    out.push_back(ok("config", file.string() + " is valid (smartproductd --check-config)"));
    return;
  }
  for (const auto& e : all.errors) {
    out.push_back(
        {"config", CheckLevel::kFail, e, "edit " + file.string() + " (README lists every key)"});
  }
}

void check_keys(const config::DaemonConfig& cfg, const BrokerFiles& broker,
                const CertificateSources& sources, uid_t service, std::vector<CheckResult>& out) {
  // The keys the config names, and every *.key in their folders and the CA key folder (the
  // audit's PKI_FILE_PERMISSIONS_CHECK looks at the same set).
  std::set<fs::path> keys = {cfg.http.key, cfg.broker.key};
  if (!broker.key.empty()) keys.insert(broker.key);
  const auto paths = audit::snapshot_paths(cfg, sources.ca_dir, sources.managed_ca_dir);
  for (const auto& dir : paths.key_dirs) {
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".key" && e.is_regular_file(ec)) keys.insert(e.path());
    }
  }
  const fs::path broker_dir = broker.conf.parent_path();
  const auto broker_owner = file_facts(broker_dir);
  int fine = 0;
  for (const auto& key : keys) {
    if (key.empty()) continue;
    // The broker's files belong to whoever the broker runs as (mosquitto when init ran as root).
    const bool broker_file = !broker_dir.empty() && broker_owner.exists &&
                             key.parent_path().lexically_normal() == broker_dir.lexically_normal();
    auto r = evaluate_key_file(key, file_facts(key), broker_file ? broker_owner.uid : service);
    if (r.level == CheckLevel::kOk) {
      ++fine;
    } else {
      out.push_back(std::move(r));
    }
  }
  if (fine > 0) {
    out.push_back(
        ok("keys", fmt::format("{} private key(s) mode 0600, owned by the service user", fine)));
  }
}

void check_directories(const config::DaemonConfig& cfg, const CertificateSources& sources,
                       const fs::path& data_dir, uid_t service, std::vector<CheckResult>& out) {
  out.push_back(evaluate_private_dir("data directory", data_dir, file_facts(data_dir), service));
  const fs::path pki = cfg.http.key.parent_path();
  out.push_back(evaluate_private_dir("PKI directory", pki, file_facts(pki), service));
  std::error_code ec;
  if (!sources.managed_ca_dir.empty() && fs::exists(sources.managed_ca_dir, ec)) {
    out.push_back(evaluate_private_dir("CA key directory", sources.managed_ca_dir,
                                       file_facts(sources.managed_ca_dir), service));
  }
}

std::string renewal_fix(const CertExpiry& cert) {
  if (cert.name.rfind("device CA ", 0) == 0) {
    return "create or register a new device CA (smartproductctl ca create|register) and move "
           "its devices to it before this one expires";
  }
  return "remove " + cert.path.string() +
         " and run smartproductctl init for this instance again (it re-issues a missing "
         "certificate with the kept key), then restart the daemon";
}

void check_certificates(const std::vector<CertExpiry>& certs, std::vector<CheckResult>& out) {
  int fine = 0;
  const CertExpiry* soonest = nullptr;
  for (const auto& c : certs) {
    const auto level = expiry_level(c);
    if (level == CheckLevel::kOk) {
      ++fine;
      if (!soonest || c.not_after_s < soonest->not_after_s) soonest = &c;
      continue;
    }
    out.push_back({"certificates", level, describe_expiry(c),
                   c.error.empty() ? renewal_fix(c) : "restore " + c.path.string()});
  }
  if (fine > 0) {
    out.push_back(
        ok("certificates", fmt::format("{} certificate(s) valid for {} days or more; soonest: {}",
                                       fine, kExpiryWarningDays, describe_expiry(*soonest))));
  }
}

int managed_broker_pid(const BrokerFiles& broker) {
  std::ifstream in(broker.conf.parent_path() / "managed-broker.pid");
  int pid = 0;
  return (in >> pid) ? pid : 0;
}

void check_ports(const config::DaemonConfig& cfg, const DaemonState& daemon,
                 const BrokerFiles& broker, std::vector<CheckResult>& out) {
  const auto https = port_use(cfg.http.port);
  const auto https_name = fmt::format("HTTPS port {}", cfg.http.port);
  if (daemon.running) {
    out.push_back(ok("ports", https_name + " in use by the daemon" +
                                  (https.pid > 0 ? ": " + describe_user(https) : "")));
  } else if (https.listening) {
    out.push_back({"ports", CheckLevel::kFail,
                   fmt::format("{} is held by {}, which is not an answering smartproductd",
                               https_name, describe_user(https)),
                   "stop that process or change [http] port"});
  } else {
    out.push_back(ok("ports", https_name + " free (the daemon is stopped)"));
  }

  if (cfg.broker.mode != config::BrokerSettings::Mode::kManaged) {
    out.push_back(ok("ports", fmt::format("MQTT: external broker at {}:{}; its port is its "
                                          "service's business (status shows the connection)",
                                          cfg.broker.host, cfg.broker.port)));
    return;
  }
  if (!broker.read) {
    out.push_back({"ports", CheckLevel::kFail, "cannot read " + broker.conf.string(),
                   "run smartproductctl init for this instance again (it writes the broker's "
                   "config)"});
    return;
  }
  const int adoptable = managed_broker_pid(broker);
  for (const auto port : broker.ports) {
    const auto use = port_use(port);
    const auto name = fmt::format("MQTT port {}", port);
    if (daemon.running) {
      if (use.listening) {
        out.push_back(ok("ports", name + " in use by the managed broker" +
                                      (use.pid > 0 ? ": " + describe_user(use) : "")));
      } else {
        out.push_back({"ports", CheckLevel::kFail,
                       name + " is not listening although the daemon runs",
                       "see " + (broker.conf.parent_path() / "mosquitto.log").string()});
      }
    } else if (!use.listening) {
      out.push_back(ok("ports", name + " free (the daemon is stopped)"));
    } else if (use.pid > 0 && use.pid == adoptable) {
      out.push_back({"ports", CheckLevel::kWarn,
                     fmt::format("{} is held by the managed broker (pid {}) without the daemon",
                                 name, use.pid),
                     "start the daemon (it adopts this broker) or stop the broker: kill " +
                         std::to_string(use.pid)});
    } else {
      out.push_back({"ports", CheckLevel::kFail,
                     fmt::format("{} is held by {}", name, describe_user(use)),
                     "stop that process or change the broker's listener port (init --mqtt-port)"});
    }
  }
}

void check_clock(const DaemonState& daemon, std::vector<CheckResult>& out) {
  if (!daemon.running) {
    out.push_back(ok("clock",
                     "skipped: the daemon does not run (its Date header is the only reference "
                     "offline); check timedatectl"));
    return;
  }
  auto server = parse_http_date(daemon.date);
  if (!server) {
    out.push_back({"clock", CheckLevel::kWarn,
                   "the daemon's answer has no readable Date header (\"" + daemon.date + "\")",
                   "check timedatectl"});
    return;
  }
  out.push_back(evaluate_clock_skew(*server, daemon.asked_at_s));
}

void check_disk(const config::DaemonConfig& cfg, const fs::path& data_dir,
                std::vector<CheckResult>& out) {
  // The disk guard's limits as the telemetry module reads them (its defaults when absent).
  telemetry::RetentionConfig limits;
  std::vector<std::string> ignored;  // the config check reports problems in the section
  auto section = cfg.document->section("telemetry", ignored);
  limits.max_disk_bytes = section.integer("max_disk_bytes", limits.max_disk_bytes, 0, INT64_MAX);
  limits.min_free_bytes = section.integer("min_free_bytes", limits.min_free_bytes, 0, INT64_MAX);
  std::optional<std::int64_t> free;
  struct statvfs fs_info {};
  if (::statvfs(data_dir.c_str(), &fs_info) == 0) {
    free =
        static_cast<std::int64_t>(fs_info.f_bavail) * static_cast<std::int64_t>(fs_info.f_frsize);
  }
  std::int64_t telemetry_bytes = 0;
  for (const auto& db : database_sizes(data_dir)) {
    if (db.name == sqlite::kTelemetryDatabaseFile) telemetry_bytes = db.bytes;
  }
  out.push_back(
      evaluate_disk(data_dir, free, limits.min_free_bytes, telemetry_bytes, limits.max_disk_bytes));
}

}  // namespace

std::vector<CheckResult> run_doctor(const fs::path& config_file, std::int64_t now_s,
                                    long timeout_ms) {
  std::vector<CheckResult> out;
  check_config(config_file, out);
  // The rest needs core's sections only; a module section's problem was reported above.
  auto cfg = load_instance_config(config_file.string());
  if (!cfg) return out;
  const auto daemon = probe_daemon(*cfg, timeout_ms);
  const fs::path data_dir = fs::absolute(cfg->storage.data_dir).lexically_normal();
  const auto broker = read_broker_files(cfg->broker.mosquitto_conf);
  auto sources = certificate_sources(*cfg, broker);
  if (!sources) sources = CertificateSources{broker.cert, {}, {}};
  const uid_t service = service_uid(daemon, cfg->http.port, data_dir);

  check_keys(*cfg, broker, *sources, service, out);
  check_directories(*cfg, *sources, data_dir, service, out);
  check_certificates(instance_certificates(*cfg, *sources, now_s), out);
  check_ports(*cfg, daemon, broker, out);
  check_clock(daemon, out);
  check_disk(*cfg, data_dir, out);
  return out;
}

int doctor_exit_code(const std::vector<CheckResult>& results) {
  for (const auto& r : results) {
    if (r.level == CheckLevel::kFail) return 1;
  }
  return 0;
}

json doctor_json(const std::vector<CheckResult>& results) {
  json checks = json::array();
  for (const auto& r : results) {
    json c = {{"check", r.check}, {"status", to_string(r.level)}, {"message", r.message}};
    if (!r.fix.empty()) c["fix"] = r.fix;
    checks.push_back(std::move(c));
  }
  return {{"checks", checks}, {"exitCode", doctor_exit_code(results)}};
}

void print_doctor(const std::vector<CheckResult>& results, std::ostream& out) {
  int warnings = 0, failures = 0;
  for (const auto& r : results) {
    warnings += r.level == CheckLevel::kWarn;
    failures += r.level == CheckLevel::kFail;
    out << fmt::format("{:4}  {:12} {}\n", to_string(r.level), r.check, r.message);
    if (!r.fix.empty()) out << fmt::format("{:18} fix: {}\n", "", r.fix);
  }
  out << fmt::format("{} check(s): {} failed, {} warning(s)\n", results.size(), failures, warnings);
}

void add_doctor_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "doctor",
      "Offline checks when something is wrong: config, key and data permissions, certificates, "
      "ports, clock skew, free disk; each ok/warn/fail with a fix. Exit 1 when any check fails");
  auto where = add_instance_options(cmd);
  auto options = add_report_options(cmd);
  cmd->callback([where, options] {
    auto results =
        run_doctor(where->config_file(), SystemClock().now_ms() / 1000, options->timeout_ms());
    if (options->json) {
      std::cout << doctor_json(results).dump(2) << "\n";
    } else {
      print_doctor(results, std::cout);
    }
    if (int code = doctor_exit_code(results); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace sp::cli
