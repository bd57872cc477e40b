#include "status_command.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "https_probe.hpp"
#include "instance_layout.hpp"
#include "smartproduct/core/clock.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/store.hpp"

namespace sp::cli {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::optional<std::int64_t> metric_int(const DaemonState& d, std::string_view name) {
  if (!d.metrics) return std::nullopt;
  auto v = metric_value(*d.metrics, name);
  if (!v) return std::nullopt;
  return static_cast<std::int64_t>(*v);
}

// Counts from smartproduct.db, read-only (the daemon may be writing it).
void count_devices(const fs::path& data_dir, StatusReport& r) {
  sqlite::ConnectionOptions options;
  options.create = false;
  options.query_only = true;
  auto conn = sqlite::Connection::open(data_dir / sqlite::kMainDatabaseFile, options);
  if (!conn) {
    r.devices_error = conn.error().message;
    return;
  }
  auto registered = conn->query_value<std::int64_t>(
      "SELECT count(*) FROM registrations WHERE status != 'deleted'");
  if (!registered) {
    r.devices_error = registered.error().message;
    return;
  }
  r.devices_registered = registered->value_or(0);
  if (r.devices_connected) return;  // live from the daemon
  auto connected =
      conn->query_value<std::int64_t>("SELECT count(*) FROM device_presence WHERE connected = 1");
  if (connected) {
    r.devices_connected = connected->value_or(0);
    r.devices_connected_source = "database";
  }
}

}  // namespace

DaemonState probe_daemon(const config::DaemonConfig& config, long timeout_ms) {
  DaemonState d;
  // The instance's own root CA signs its HTTPS certificate: next to it in the PKI folder, else
  // the broker's trust anchor (the same root in every layout init makes).
  fs::path cafile = config.http.cert.parent_path() / "root-ca.crt";
  std::error_code ec;
  if (!fs::exists(cafile, ec)) cafile = config.broker.ca_file;
  HttpsProbe probe(local_address_for(config.http.listen), config.http.port, cafile.string(),
                   config.metrics.token, timeout_ms);
  d.url = probe.base_url();
  auto health = probe.get("/healthz");
  d.asked_at_s = SystemClock().now_ms() / 1000;
  if (health.status != 200) {
    d.error = !health.error.empty()
                  ? health.error
                  : fmt::format("GET /healthz answered {}: not smartproductd?", health.status);
    return d;
  }
  d.running = true;
  d.date = health.date;
  auto ready = probe.get("/readyz");
  d.ready = ready.status == 200;
  if (!d.ready) {
    const auto body = json::parse(ready.body, nullptr, false);
    if (body.is_object() && body.contains("reasons") && body["reasons"].is_array()) {
      for (const auto& reason : body["reasons"]) {
        if (reason.is_string()) d.reasons.push_back(reason.get<std::string>());
      }
    }
    if (d.reasons.empty()) {
      d.reasons.push_back(!ready.error.empty()
                              ? ready.error
                              : fmt::format("GET /readyz answered {}", ready.status));
    }
  }
  auto metrics = probe.get("/metrics");
  if (metrics.status == 200) {
    d.metrics = std::move(metrics.body);
  } else {
    d.metrics_error =
        !metrics.error.empty()
            ? metrics.error
            : fmt::format("GET /metrics answered {} (set [metrics] token?)", metrics.status);
  }
  return d;
}

BrokerFiles read_broker_files(const fs::path& mosquitto_conf) {
  BrokerFiles b;
  b.conf = mosquitto_conf;
  std::ifstream in(mosquitto_conf);
  if (mosquitto_conf.empty() || !in) return b;
  b.read = true;
  auto resolve = [&](const std::string& value) {
    fs::path p(value);
    return p.is_absolute() ? p : mosquitto_conf.parent_path() / p;
  };
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key.front() == '#') continue;
    if (key == "certfile") {
      b.cert = resolve(value);
    } else if (key == "keyfile") {
      b.key = resolve(value);
    } else if (key == "listener" || key == "port") {
      try {
        const int port = std::stoi(value);
        if (port > 0 && port < 65536) b.ports.push_back(static_cast<std::uint16_t>(port));
      } catch (const std::exception&) {
        // a unix socket listener or a typo: not a TCP port to check
      }
    }
  }
  return b;
}

Result<CertificateSources> certificate_sources(const config::DaemonConfig& config,
                                               const BrokerFiles& broker) {
  auto jitr = jitr_settings(config);
  if (!jitr) return tl::unexpected(jitr.error());
  return CertificateSources{broker.cert, jitr->managed_ca_dir, jitr->ca_dir};
}

std::vector<DatabaseSize> database_sizes(const fs::path& data_dir) {
  std::vector<DatabaseSize> out;
  for (const char* name : {sqlite::kMainDatabaseFile, sqlite::kTelemetryDatabaseFile}) {
    DatabaseSize db;
    db.name = name;
    db.path = data_dir / name;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      const auto file = data_dir / (std::string(name) + suffix);
      const auto size = fs::file_size(file, ec);
      if (ec) {
        if (ec != std::errc::no_such_file_or_directory && db.error.empty()) {
          db.error = file.string() + ": " + ec.message();
        }
        continue;
      }
      db.files.emplace_back(file.filename().string(), static_cast<std::int64_t>(size));
      db.bytes += static_cast<std::int64_t>(size);
    }
    out.push_back(std::move(db));
  }
  return out;
}

StatusReport collect_status(const config::DaemonConfig& config, std::int64_t now_s,
                            long timeout_ms) {
  StatusReport r;
  r.config_file = config.file;
  r.daemon = probe_daemon(config, timeout_ms);
  const auto& d = r.daemon;
  for (const auto& reason : d.reasons) {
    constexpr std::string_view kBroker = "broker: ";
    if (reason.rfind(kBroker, 0) == 0) r.broker_detail = reason.substr(kBroker.size());
  }
  if (d.running) {
    if (auto connected = metric_int(d, "smartproduct_mqtt_connected")) {
      r.broker_connected = *connected == 1;
    } else {
      r.broker_connected = r.broker_detail.empty();  // /readyz names a broker problem
    }
    r.broker_connects = metric_int(d, "smartproduct_mqtt_connects_total");
    r.broker_losses = metric_int(d, "smartproduct_mqtt_connection_losses_total");
    r.devices_connected = metric_int(d, "smartproduct_devices_connected");
    if (r.devices_connected) r.devices_connected_source = "daemon";
  }
  const fs::path data_dir = fs::absolute(config.storage.data_dir).lexically_normal();
  count_devices(data_dir, r);
  r.databases = database_sizes(data_dir);

  const auto broker = read_broker_files(config.broker.mosquitto_conf);
  auto sources = certificate_sources(config, broker);
  r.certificates = instance_certificates(
      config, sources ? *sources : CertificateSources{broker.cert, {}, {}}, now_s);
  if (!sources) {
    CertExpiry unknown;
    unknown.name = "device CAs";
    unknown.error = "cannot find the CA folders: " + sources.error().message;
    r.certificates.push_back(std::move(unknown));
  }
  decide_status(r);
  return r;
}

void decide_status(StatusReport& r) {
  std::vector<std::string> certificate_problems;
  for (const auto& c : r.certificates) {
    if (expiry_level(c) != CheckLevel::kOk) certificate_problems.push_back(describe_expiry(c));
  }
  r.problems.clear();
  if (!r.daemon.running) {
    r.exit_code = kStatusDaemonDown;
    r.problems.push_back("the daemon does not answer at " + r.daemon.url + ": " + r.daemon.error);
  } else if (!r.daemon.ready) {
    r.exit_code = kStatusNotReady;
    for (const auto& reason : r.daemon.reasons) r.problems.push_back("not ready: " + reason);
  } else if (!certificate_problems.empty()) {
    r.exit_code = kStatusCertificates;
  } else {
    r.exit_code = kStatusOk;
  }
  for (auto& p : certificate_problems) r.problems.push_back("certificate: " + std::move(p));
}

json status_json(const StatusReport& r) {
  auto optional = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  json daemon = {{"url", r.daemon.url},
                 {"running", r.daemon.running},
                 {"ready", r.daemon.ready},
                 {"reasons", r.daemon.reasons}};
  if (!r.daemon.error.empty()) daemon["error"] = r.daemon.error;
  json devices = {{"registered", optional(r.devices_registered)},
                  {"connected", optional(r.devices_connected)}};
  if (!r.devices_connected_source.empty()) devices["connectedSource"] = r.devices_connected_source;
  if (!r.devices_error.empty()) devices["error"] = r.devices_error;
  json databases = json::array();
  for (const auto& db : r.databases) {
    json files = json::object();
    for (const auto& [name, bytes] : db.files) files[name] = bytes;
    json entry = {
        {"name", db.name}, {"path", db.path.string()}, {"bytes", db.bytes}, {"files", files}};
    if (!db.error.empty()) entry["error"] = db.error;
    databases.push_back(std::move(entry));
  }
  json certificates = json::array();
  for (const auto& c : r.certificates) {
    json cert = {
        {"name", c.name}, {"path", c.path.string()}, {"status", to_string(expiry_level(c))}};
    if (c.error.empty()) {
      cert["subject"] = c.subject;
      cert["notAfter"] = iso8601_ms(c.not_after_s * 1000);
      cert["daysLeft"] = c.days_left;
    } else {
      cert["error"] = c.error;
    }
    certificates.push_back(std::move(cert));
  }
  return {{"config", r.config_file.string()},
          {"daemon", daemon},
          {"broker",
           {{"connected", optional(r.broker_connected)},
            {"connects", optional(r.broker_connects)},
            {"connectionLosses", optional(r.broker_losses)},
            {"detail", r.broker_detail}}},
          {"devices", devices},
          {"databases", databases},
          {"certificates", certificates},
          {"expiryWarningDays", kExpiryWarningDays},
          {"problems", r.problems},
          {"exitCode", r.exit_code}};
}

void print_status(const StatusReport& r, std::ostream& out) {
  out << fmt::format("instance      {}\n", r.config_file.string());
  if (!r.daemon.running) {
    out << fmt::format("daemon        DOWN: {}\n", r.daemon.error);
  } else if (r.daemon.ready) {
    out << fmt::format("daemon        running, ready ({})\n", r.daemon.url);
  } else {
    out << fmt::format("daemon        running, NOT READY ({})\n", r.daemon.url);
    for (const auto& reason : r.daemon.reasons) out << fmt::format("              - {}\n", reason);
  }
  if (!r.broker_connected) {
    out << "broker        unknown (the daemon does not answer)\n";
  } else {
    std::string counts;
    if (r.broker_connects && r.broker_losses) {
      counts = fmt::format(" ({} connect(s), {} loss(es) since start)", *r.broker_connects,
                           *r.broker_losses);
    }
    out << fmt::format("broker        {}{}{}\n", *r.broker_connected ? "connected" : "DISCONNECTED",
                       counts, r.broker_detail.empty() ? "" : ": " + r.broker_detail);
  }
  if (r.devices_registered) {
    std::string connected = "unknown";
    if (r.devices_connected) {
      connected = fmt::format("{} connected{}", *r.devices_connected,
                              r.devices_connected_source == "database"
                                  ? " (last recorded; the daemon does not answer)"
                                  : "");
    }
    out << fmt::format("devices       {} registered, {}\n", *r.devices_registered, connected);
  } else {
    out << fmt::format("devices       unknown: {}\n", r.devices_error);
  }
  for (const auto& db : r.databases) {
    std::string parts;
    for (const auto& [name, bytes] : db.files) {
      parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", name, human_bytes(bytes));
    }
    if (!db.error.empty()) {
      out << fmt::format("database      {:16} unknown: {}\n", db.name, db.error);
      continue;
    }
    out << fmt::format("database      {:16} {:>10}{}\n", db.name, human_bytes(db.bytes),
                       db.files.empty() ? "  (not created yet)" : "  (" + parts + ")");
  }
  out << "certificates\n";
  for (const auto& c : r.certificates) {
    const auto level = expiry_level(c);
    const std::string mark = level == CheckLevel::kOk     ? "ok"
                             : level == CheckLevel::kWarn ? "WARN"
                                                          : "FAIL";
    if (!c.error.empty()) {
      out << fmt::format("  {:5} {:22} {}\n", mark, c.name, c.error);
    } else {
      out << fmt::format("  {:5} {:22} {:>6} days left  {}  {}\n", mark, c.name, c.days_left,
                         iso8601_ms(c.not_after_s * 1000).substr(0, 10), c.path.string());
    }
  }
  if (r.problems.empty()) {
    out << "status        ok\n";
  } else {
    for (const auto& p : r.problems) out << fmt::format("problem       {}\n", p);
    out << fmt::format("status        exit {}\n", r.exit_code);
  }
}

std::shared_ptr<ReportOptions> add_report_options(CLI::App* cmd) {
  auto options = std::make_shared<ReportOptions>();
  cmd->add_flag("--json", options->json, "One JSON object (for scripts)");
  cmd->add_option("--timeout", options->timeout_s, "Seconds to wait for each answer of the daemon")
      ->check(CLI::Range(0.1, 300.0));
  return options;
}

void add_status_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "status",
      "Daemon health and readiness, broker connection, devices, database sizes, certificate "
      "expiry. Exit 0 all well, 1 config unreadable, 2 daemon down, 3 not ready, 4 a certificate "
      "expires within 14 days");
  auto where = add_instance_options(cmd);
  auto options = add_report_options(cmd);
  cmd->callback([where, options] {
    auto cfg = load_instance_config(where->config_file().string());
    if (!cfg) {
      std::cerr << "smartproductctl status: error: " << cfg.error().message << "\n";
      throw CLI::RuntimeError(kStatusError);
    }
    auto report = collect_status(*cfg, SystemClock().now_ms() / 1000, options->timeout_ms());
    if (options->json) {
      std::cout << status_json(report).dump(2) << "\n";
    } else {
      print_status(report, std::cout);
    }
    if (report.exit_code != kStatusOk) throw CLI::RuntimeError(report.exit_code);
  });
}

}  // namespace sp::cli
