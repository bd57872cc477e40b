#include "demo_command.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "api_client.hpp"
#include "ca_command.hpp"
#include "catalog_command.hpp"
#include "device_set.hpp"
#include "instance_info.hpp"
#include "instance_layout.hpp"
#include "smartproduct/core/ids.hpp"
#include "smartproduct/pki/ca_service.hpp"
#include "user_command.hpp"

namespace sp::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Two devices are asked for targets their 71.5 °F is far from: the first sends a warning (more
// than 5 °F above the target), the second an error (more than 10 °F) on every telemetry tick, so
// the console shows events and alerts within the first minute instead of after the random walk
// happens to leave the band.
constexpr double kDemoTargets[] = {65.0, 60.0};

tl::unexpected<Error> demo_fail(std::string message) {
  return fail(ErrorKind::kUnprocessable, "DemoFailed", std::move(message));
}

// The demo's files live beside the databases: the instance directory of a development instance,
// /var/lib/smartproduct for the packaged one (whose /etc/smartproduct the service user cannot
// write).
fs::path demo_dir_of(const config::DaemonConfig& c) {
  return c.storage.data_dir.parent_path() / "demo";
}

struct Credentials {
  std::string email;
  std::string password;
};

std::optional<Credentials> read_credentials(const fs::path& file) {
  std::ifstream in(file);
  Credentials c;
  if (!in || !std::getline(in, c.email) || !std::getline(in, c.password) || c.password.empty()) {
    return std::nullopt;
  }
  return c;
}

Result<void> write_credentials(const fs::path& file, const Credentials& c) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  // Created 0600 (a password), replaced whole.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return demo_fail("cannot write " + file.string() + ": " + std::strerror(errno));
  const std::string text = c.email + "\n" + c.password + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return demo_fail("cannot write " + file.string());
  return {};
}

std::string read_password_line(std::istream& in) {
  std::string password;
  std::getline(in, password);
  while (!password.empty() && (password.back() == '\r' || password.back() == '\n')) {
    password.pop_back();
  }
  return password;
}

// The account: created verified the first time, reused afterwards. Its password is the one given
// on standard input, else the one this command saved when it created the account, else new.
Result<void> ensure_account(const DemoOptions& o, std::istream& password_in, DemoSetup& s,
                            std::ostream& out) {
  const auto saved = read_credentials(s.credentials_file);
  bool known = true;
  if (o.password_stdin) {
    s.password = read_password_line(password_in);
    if (s.password.empty()) return demo_fail("no password on standard input");
  } else if (saved && saved->email == s.email) {
    s.password = saved->password;
  } else {
    s.password = "demo-" + ids::random_hex(8);
    known = false;
  }
  UserAddOptions add;
  add.config = o.config;
  add.email = s.email;
  add.name = "Demo";
  std::istringstream password(s.password + "\n");
  std::ostringstream created;
  if (auto r = run_user_add(add, password, created); !r) {
    if (r.error().name != "UserAlreadyExists") return tl::unexpected(r.error());
    if (!known) {
      return demo_fail(fmt::format(
          "the account {} exists and its password is not in {}: give it with --password-stdin, "
          "or choose another --email",
          s.email, s.credentials_file.string()));
    }
    out << "account:  " << s.email << " (exists)\n";
  } else {
    s.account_created = true;
    out << "account:  " << created.str();
  }
  if (!saved || saved->email != s.email || saved->password != s.password) {
    return write_credentials(s.credentials_file, {s.email, s.password});
  }
  return {};
}

// Serials the reference catalog does not know cannot be registered: import them (existing entries
// are skipped, so a second run adds nothing).
Result<void> ensure_catalog(const DemoOptions& o, const DemoSetup& s, std::ostream& out) {
  std::string csv = "deviceId,modelNumber,details\n";
  for (const auto& serial : s.serials) {
    csv += fmt::format("{},{},\"{{\"\"model\"\":\"\"Demo thermostat\"\"}}\"\n", serial, o.model);
  }
  CatalogImportOptions import;
  import.config = o.config;
  import.file = "-";
  std::istringstream in(csv);
  std::ostringstream summary, errors;
  auto r = run_catalog_import(import, in, summary, errors);
  if (!r) return tl::unexpected(r.error());
  if (r->bad > 0) return demo_fail("catalog import refused demo rows: " + errors.str());
  out << fmt::format("catalog:  {} entries ({} new, {} there already)\n", r->rows, r->inserted,
                     r->skipped);
  return {};
}

Result<void> ensure_ca(const DemoOptions& o, std::ostream& out) {
  auto ctx = CaContext::open(o.config);
  if (!ctx) return tl::unexpected(ctx.error());
  auto names = (*ctx)->managed_names();
  if (!names) return tl::unexpected(names.error());
  if (std::find(names->begin(), names->end(), o.ca) != names->end()) {
    out << "CA:       " << o.ca << " (exists)\n";
    return {};
  }
  auto created = (*ctx)->service().create_managed(o.ca, pki::kDefaultManagedCaDays);
  if (!created) return tl::unexpected(created.error());
  // A running daemon re-sends the broker plugin's state when the revision moves.
  if (auto r = (*ctx)->bump_broker_state_revision(); !r) return r;
  out << "CA:       " << o.ca << " (created, managed)\n";
  return {};
}

Result<void> wait_until_ready(sim::ApiClient& api, const std::string& url, double wait_s,
                              std::ostream& out) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<std::int64_t>(wait_s * 1000));
  bool said = false;
  for (;;) {
    const auto reply = api.request("GET", "/readyz", "");
    if (reply.status == 200) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      return demo_fail(fmt::format(
          "smartproductd is not ready at {} after {:.0f} s ({}): start it first (./dev.sh run, "
          "systemctl start smartproductd)",
          url, wait_s,
          reply.error.empty() ? fmt::format("/readyz {}", reply.status) : reply.error));
    }
    if (!said) {
      out << "waiting for smartproductd at " << url << " ...\n" << std::flush;
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Registration and desired state through the REST API as the demo account.
Result<void> register_devices(const DemoOptions& o, const sim::InstanceInfo& instance, DemoSetup& s,
                              std::ostream& out) {
  try {
    sim::ApiClient api(instance.api_url, instance.root_ca.string());
    if (auto r = wait_until_ready(api, instance.api_url, o.wait_s, out); !r) return r;
    api.login(s.email, s.password);
    for (std::size_t i = 0; i < s.serials.size(); ++i) {
      const auto name = fmt::format("Thermostat-{}", i + 1);
      if (api.register_device(s.serials[i], name, o.model) == sim::RegisterOutcome::kRegistered) {
        ++s.registered;
      }
    }
    out << fmt::format("devices:  {}..{} registered for {} ({} new)\n", s.serials.front(),
                       s.serials.back(), s.email, s.registered);
    for (std::size_t i = 0; i < s.serials.size() && i < std::size(kDemoTargets); ++i) {
      const json desired{{"state", {{"desired", {{"targetTemperature", kDemoTargets[i]}}}}}};
      const auto reply =
          api.request("PATCH", "/api/devices/" + s.serials[i] + "/shadow", desired.dump());
      if (reply.status != 200) {
        return demo_fail(fmt::format(
            "setting the target temperature of {} failed ({}): {}", s.serials[i], reply.status,
            reply.error.empty() ? sim::api_error_text(reply.body) : reply.error));
      }
    }
  } catch (const std::exception& e) {
    return demo_fail(e.what());
  }
  return {};
}

std::string console_url_of(const config::DaemonConfig& c) {
  const std::string& listen = c.http.listen;
  const std::string host =
      listen.empty() || listen == "0.0.0.0" || listen == "::" ? "localhost" : listen;
  return fmt::format("https://{}:{}/",
                     host.find(':') != std::string::npos ? "[" + host + "]" : host, c.http.port);
}

std::string program_next_to_self(const std::string& name) {
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && fs::exists(self.parent_path() / name, ec)) return (self.parent_path() / name).string();
  return name;
}

}  // namespace

Result<DemoSetup> prepare_demo(const DemoOptions& o, std::istream& password_in, std::ostream& out) {
  auto cfg = load_instance_config(o.config);
  if (!cfg) return tl::unexpected(cfg.error());
  DemoSetup s;
  s.email = o.email;
  s.config_file = cfg->file;
  s.console_url = console_url_of(*cfg);
  s.credentials_file = demo_dir_of(*cfg) / "account";
  s.cert_dir = demo_dir_of(*cfg) / "certs";
  try {
    s.serials = sim::make_serials(o.prefix, o.devices);
  } catch (const std::exception& e) {
    return demo_fail(e.what());
  }
  if (auto r = ensure_account(o, password_in, s, out); !r) return tl::unexpected(r.error());
  if (auto r = ensure_catalog(o, s, out); !r) return tl::unexpected(r.error());
  if (auto r = ensure_ca(o, out); !r) return tl::unexpected(r.error());
  sim::InstanceInfo instance;
  try {
    instance = sim::load_instance(cfg->file.string(), "");
  } catch (const std::exception& e) {
    return demo_fail(e.what());
  }
  if (auto r = register_devices(o, instance, s, out); !r) return tl::unexpected(r.error());
  return s;
}

std::vector<std::string> demo_simulator_command(const DemoOptions& o, const DemoSetup& s,
                                                const std::string& sim, const std::string& ctl) {
  std::vector<std::string> args{sim, "run", "--config", s.config_file.string(), "--devices",
                                std::to_string(s.serials.size()), "--prefix", o.prefix, "--ca",
                                o.ca, "--cert-dir", s.cert_dir.string(), "--ctl", ctl,
                                "--interval-ms", std::to_string(o.interval_ms),
                                // The shadow report also brings a pending delta to a device that
                                // connected after the target was set: report every 10 s.
                                "--status-interval-ms", "10000", "--print-every-s", "10"};
  if (o.duration_s > 0) {
    args.push_back("--duration-s");
    args.push_back(fmt::format("{}", o.duration_s));
  }
  return args;
}

void add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo",
      "Register a demo account and simulated devices on the running instance and run the devices "
      "(telemetry, events) until Ctrl-C; again: reuses them");
  auto where = add_instance_options(cmd);
  cmd->add_option("--devices", o->devices, "Number of devices <prefix>00001...")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--email", o->email, "The demo account's email (sign-in name)")
      ->capture_default_str();
  cmd->add_flag("--password-stdin", o->password_stdin,
                "Read the demo account's password from standard input (default: the one saved "
                "at the account's creation, or a new one)");
  cmd->add_option("--prefix", o->prefix, "Serial prefix")->capture_default_str();
  cmd->add_option("--ca", o->ca,
                  "Managed CA issuing the devices' certificates (created if missing)")
      ->capture_default_str();
  cmd->add_option("--interval-ms", o->interval_ms, "Telemetry interval of each device")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600000));
  cmd->add_option("--duration-s", o->duration_s, "Stop the devices after this many seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--wait-s", o->wait_s, "How long to wait for the daemon to be ready")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o, where] {
    o->config = where->config_file().string();
    auto setup = prepare_demo(*o, std::cin, std::cout);
    if (!setup) {
      std::cerr << "smartproductctl demo: error: " << setup.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
    std::cout
        << fmt::format(
               "\nconsole:  {}\nsign in:  {} / {}   (kept in {})\n"
               "starting {} simulated devices; Ctrl-C stops them (run demo again to resume)\n",
               setup->console_url, setup->email, setup->password, setup->credentials_file.string(),
               setup->serials.size())
        << std::flush;
    auto args = demo_simulator_command(*o, *setup, program_next_to_self("smartproduct-sim"),
                                       program_next_to_self("smartproductctl"));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The simulator takes over this process: Ctrl-C and SIGTERM reach it directly, and its exit
    // status is the command's.
    ::execvp(argv[0], argv.data());
    std::cerr << "smartproductctl demo: cannot run " << args[0] << ": " << std::strerror(errno)
              << "\n";
    throw CLI::RuntimeError(1);
  });
}

}  // namespace sp::cli
