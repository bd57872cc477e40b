#include "ca_command.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>

#include "instance_layout.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::cli {

namespace fs = std::filesystem;

struct CaContext::Impl {
  config::DaemonConfig config;
  std::unique_ptr<sqlite::Store> store;
  std::unique_ptr<store::CaRepository> repo;
  SystemClock clock;
  EventBus bus;  // no subscribers here
  std::unique_ptr<pki::CaService> service;

  ~Impl() {
    service.reset();
    repo.reset();
    if (store) store->close();
  }
};

CaContext::CaContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CaContext::~CaContext() = default;

Result<std::unique_ptr<CaContext>> CaContext::open(const fs::path& config_file) {
  auto impl = std::make_unique<Impl>();
  auto cfg = load_instance_config(config_file.string());
  if (!cfg) return tl::unexpected(cfg.error());
  impl->config = std::move(*cfg);
  sqlite::StoreConfig sc;
  sc.data_dir = impl->config.storage.data_dir;
  sc.busy_timeout_ms = impl->config.storage.busy_timeout_ms;
  sc.reader_count = 1;
  auto opened = sqlite::open_store(sc);
  if (!opened) return tl::unexpected(opened.error());
  impl->store = std::move(*opened);
  impl->repo = sqlite::make_ca_repository(impl->store->main_ptr());
  auto jitr = jitr_settings(impl->config);
  if (!jitr) return tl::unexpected(jitr.error());
  // The CLI's bus has no subscribers: it cannot reach the broker plugin; the revision bump tells
  // the daemon.
  impl->service = std::make_unique<pki::CaService>(
      *impl->repo, impl->clock,
      pki::CaServiceConfig{jitr->ca_dir, jitr->managed_ca_dir, impl->config.broker.ca_file},
      impl->bus);
  return std::unique_ptr<CaContext>(new CaContext(std::move(impl)));
}

pki::CaService& CaContext::service() { return *impl_->service; }

Result<void> CaContext::bump_broker_state_revision() {
  return impl_->repo->bump_broker_state_revision();
}

Result<std::int64_t> CaContext::broker_state_revision() {
  return impl_->repo->broker_state_revision();
}

Result<std::vector<std::string>> CaContext::managed_names() {
  auto all = impl_->repo->list(false);
  if (!all) return tl::unexpected(all.error());
  std::vector<std::string> names;
  for (const auto& ca : *all) {
    if (ca.managed) names.push_back(ca.name);
  }
  return names;
}

const config::DaemonConfig& CaContext::config() const { return impl_->config; }

namespace {

using Target = InstanceSelection;

std::shared_ptr<Target> add_target_options(CLI::App* cmd) { return add_instance_options(cmd); }

// Runs `body` on the opened instance; errors go to stderr with the command's name, exit status 1.
void run_on_instance(const std::string& name, const Target& target,
                     const std::function<Result<void>(CaContext&)>& body) {
  auto ctx = CaContext::open(target.config_file());
  Result<void> r = ctx ? body(**ctx) : Result<void>(tl::unexpected(ctx.error()));
  if (!r) {
    std::cerr << "smartproductctl ca " << name << ": error: " << r.error().message << "\n";
    throw CLI::RuntimeError(1);
  }
}

std::string on_off(bool b) { return b ? "on" : "off"; }

std::string date_of(std::int64_t epoch_s) { return iso8601_ms(epoch_s * 1000).substr(0, 10); }

void print_ca(const pki::CertificateAuthority& ca) {
  std::cout << fmt::format(
      "{} ({})\n  id                 {}\n  subject            {}\n  fingerprint        {}\n"
      "  valid              {} .. {}\n  auto-registration  {}\n  managed            {}\n",
      ca.name, pki::to_string(ca.status), ca.id, ca.subject, ca.fingerprint,
      date_of(ca.not_before_s), date_of(ca.not_after_s), on_off(ca.auto_registration),
      ca.managed ? "yes (the platform keeps its key)" : "no");
}

// A change the broker plugin must learn: the running daemon polls the revision.
Result<void> changed(CaContext& ctx, const Result<pki::CertificateAuthority>& r) {
  if (!r) return tl::unexpected(r.error());
  if (auto b = ctx.bump_broker_state_revision(); !b) return b;
  print_ca(*r);
  return {};
}

void add_create(CLI::App* ca) {
  auto* cmd = ca->add_subcommand(
      "create",
      "Create a manufacturer CA whose key the platform keeps (registered ACTIVE, auto-registration "
      "on)");
  auto t = add_target_options(cmd);
  auto name = std::make_shared<std::string>();
  auto days = std::make_shared<int>(pki::kDefaultManagedCaDays);
  cmd->add_option("--name", *name, "CA name ([A-Za-z0-9._-], 1..64; also its CN)")->required();
  cmd->add_option("--days", *days, "Validity in days")
      ->default_val(pki::kDefaultManagedCaDays)
      ->check(CLI::Range(pki::kMinValidityDays, pki::kMaxValidityDays));
  cmd->callback([t, name, days] {
    run_on_instance("create", *t, [&](CaContext& ctx) -> Result<void> {
      auto r = ctx.service().create_managed(*name, *days);
      if (auto c = changed(ctx, r); !c) return c;
      std::cout << "  certificate        " << ctx.service().managed_cert_path(*name).string()
                << "\n  private key        " << ctx.service().managed_key_path(*name).string()
                << "\nIssue a device certificate:\n  smartproductctl device-cert issue --ca "
                << *name << " --serial SERIAL --out DIR --config " << ctx.config().file.string()
                << "\n";
      return {};
    });
  });
}

void add_list(CLI::App* ca) {
  auto* cmd = ca->add_subcommand("list", "List registered CAs");
  auto t = add_target_options(cmd);
  auto all = std::make_shared<bool>(false);
  cmd->add_flag("--all", *all, "Include deregistered CAs");
  cmd->callback([t, all] {
    run_on_instance("list", *t, [&](CaContext& ctx) -> Result<void> {
      auto cas = ctx.service().list(*all);
      if (!cas) return tl::unexpected(cas.error());
      if (cas->empty()) {
        std::cout << "no certificate authorities (create one: smartproductctl ca create --name "
                     "NAME)\n";
        return {};
      }
      std::cout << fmt::format("{:<24} {:<13} {:<8} {:<7} {:>7}  {:<10}  {}\n", "NAME", "STATUS",
                               "AUTOREG", "MANAGED", "DEVICES", "NOT AFTER", "ID");
      for (const auto& c : *cas) {
        auto n = ctx.service().device_count(c.id);
        if (!n) return tl::unexpected(n.error());
        std::cout << fmt::format("{:<24} {:<13} {:<8} {:<7} {:>7}  {:<10}  {}\n", c.name,
                                 pki::to_string(c.status), on_off(c.auto_registration),
                                 c.managed ? "yes" : "no", *n, date_of(c.not_after_s), c.id);
      }
      return {};
    });
  });
}

void add_registration_code(CLI::App* ca) {
  auto* cmd = ca->add_subcommand(
      "registration-code",
      "Print the CN a verification certificate must carry (proof of possession of a CA's key)");
  auto t = add_target_options(cmd);
  cmd->callback([t] {
    run_on_instance("registration-code", *t, [](CaContext& ctx) -> Result<void> {
      auto code = ctx.service().registration_code();
      if (!code) return tl::unexpected(code.error());
      std::cout << *code << "\n";
      return {};
    });
  });
}

void add_register(CLI::App* ca) {
  auto* cmd = ca->add_subcommand(
      "register",
      "Register your own CA: its certificate plus a verification certificate whose CN is the "
      "registration code, signed by the CA's key");
  auto t = add_target_options(cmd);
  struct Opts {
    std::string cert, verification, name;
    bool activate = false, auto_registration = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--cert", o->cert, "The CA certificate (PEM)")->required();
  cmd->add_option("--verification-cert", o->verification, "The verification certificate (PEM)")
      ->required();
  cmd->add_option("--name", o->name, "CA name (default: from its CN)");
  cmd->add_flag("--activate", o->activate, "Register it ACTIVE (default INACTIVE)");
  cmd->add_flag("--auto-registration", o->auto_registration,
                "Allow just-in-time registration of its device certificates");
  cmd->callback([t, o] {
    run_on_instance("register", *t, [&](CaContext& ctx) -> Result<void> {
      pki::CaService::RegisterRequest req;
      auto cert = pki::read_file(o->cert);
      if (!cert) return tl::unexpected(cert.error());
      auto verification = pki::read_file(o->verification);
      if (!verification) return tl::unexpected(verification.error());
      req.ca_pem = std::move(*cert);
      req.verification_pem = std::move(*verification);
      req.name = o->name;
      req.set_active = o->activate;
      req.auto_registration = o->auto_registration;
      return changed(ctx, ctx.service().register_ca(req));
    });
  });
}

void add_status(CLI::App* ca, const std::string& name, pki::CaStatus status,
                const std::string& help) {
  auto* cmd = ca->add_subcommand(name, help);
  auto t = add_target_options(cmd);
  auto id = std::make_shared<std::string>();
  cmd->add_option("ca", *id, "CA id or name")->required();
  cmd->callback([t, id, name, status] {
    run_on_instance(name, *t, [&](CaContext& ctx) {
      return changed(ctx, ctx.service().update(*id, status, std::nullopt));
    });
  });
}

void add_auto_registration(CLI::App* ca) {
  auto* cmd = ca->add_subcommand("auto-registration",
                                 "Turn just-in-time registration of a CA's devices on or off");
  auto t = add_target_options(cmd);
  auto id = std::make_shared<std::string>();
  auto value = std::make_shared<std::string>();
  cmd->add_option("ca", *id, "CA id or name")->required();
  cmd->add_option("value", *value, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
  cmd->callback([t, id, value] {
    run_on_instance("auto-registration", *t, [&](CaContext& ctx) {
      return changed(ctx, ctx.service().update(*id, std::nullopt, *value == "on"));
    });
  });
}

void add_deregister(CLI::App* ca) {
  auto* cmd = ca->add_subcommand(
      "deregister",
      "Deregister a CA: its devices are refused at once (the running daemon tells "
      "the broker plugin)");
  auto t = add_target_options(cmd);
  auto id = std::make_shared<std::string>();
  cmd->add_option("ca", *id, "CA id or name")->required();
  cmd->callback([t, id] {
    run_on_instance("deregister", *t,
                    [&](CaContext& ctx) { return changed(ctx, ctx.service().deregister(*id)); });
  });
}

}  // namespace

void add_ca_command(CLI::App& app) {
  auto* ca = app.add_subcommand("ca", "Device certificate authorities (manufacturer CAs)");
  ca->require_subcommand(1);
  add_create(ca);
  add_list(ca);
  add_registration_code(ca);
  add_register(ca);
  add_status(ca, "activate", pki::CaStatus::kActive, "Activate a CA (its devices may connect)");
  add_status(ca, "deactivate", pki::CaStatus::kInactive,
             "Deactivate a CA (its devices are refused)");
  add_auto_registration(ca);
  add_deregister(ca);
}

}  // namespace sp::cli
