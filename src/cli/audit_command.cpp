// smartproductctl audit run. It runs the checks offline, on the instance's database and files,
// rather than asking the running daemon over HTTPS: the CLI has no API client or credentials
// (every other command works on the instance directly), and this way the audit also works when
// the daemon is down, which is when an operator may most want it. The store's one-running-run
// index keeps it from overlapping a run of the daemon (exit status 2: try again later).

#include "audit_command.hpp"

#include <fmt/format.h>

#include <iostream>

#include "instance_layout.hpp"
#include "smartproduct/audit/service.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/http/errors.hpp"
#include "store/sqlite/repositories/audit_repository.hpp"
#include "store/sqlite/store.hpp"

namespace sp::cli {
namespace {

Result<store::AuditRun> run_audit(const std::filesystem::path& config_file, bool show_findings) {
  auto cfg = load_instance_config(config_file.string());
  if (!cfg) return tl::unexpected(cfg.error());
  std::vector<std::string> problems;
  auto section = cfg->document->section("audit", problems);
  const auto settings = audit::read_audit_settings(section);
  if (!problems.empty()) return fail(ErrorKind::kUnprocessable, "ConfigError", problems.front());
  auto jitr = jitr_settings(*cfg);
  if (!jitr) return tl::unexpected(jitr.error());
  sqlite::StoreConfig sc;
  sc.data_dir = cfg->storage.data_dir;
  sc.busy_timeout_ms = cfg->storage.busy_timeout_ms;
  sc.reader_count = 1;
  auto opened = sqlite::open_store(sc);
  if (!opened) return tl::unexpected(opened.error());
  auto& st = **opened;
  Result<store::AuditRun> out = tl::unexpected(Error{});
  {
    SystemClock clock;
    EventBus bus;  // no subscribers here
    auto repo = sqlite::make_audit_repository(st.main_ptr());
    audit::StoreSnapshotSource source(
        *repo, audit::snapshot_paths(*cfg, jitr->ca_dir, jitr->managed_ca_dir), settings);
    audit::AuditService service(*repo, source, clock, bus);
    out = service.run_now("manual");
    if (out && show_findings) {
      store::AuditFindingFilter open;
      open.status = "open";
      if (auto rows = service.findings(open, 1000, std::nullopt)) {
        for (const auto& f : *rows) {
          std::cout << fmt::format("{:8} {} {}: {}\n", f.severity, f.check, f.resource_id,
                                   f.reason);
        }
      }
    }
  }
  st.close();
  return out;
}

}  // namespace

void add_audit_command(CLI::App& app) {
  auto* audit = app.add_subcommand("audit", "The security audit");
  audit->require_subcommand(1);
  auto* run = audit->add_subcommand(
      "run",
      "Run the security audit now on this instance's database and files (also when the "
      "daemon is down); prints the counts per check and the open findings");
  auto target = add_instance_options(run);
  auto quiet = std::make_shared<bool>(false);
  run->add_flag("--quiet", *quiet, "Only the counts, not the open findings");
  run->callback([target, quiet] {
    auto r = run_audit(target->config_file(), !*quiet);
    if (!r) {
      std::cerr << "smartproductctl audit run: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(r.error().name == errors::kAuditRunning.name ? 2 : 1);
    }
    std::int64_t total = 0;
    for (const auto& [name, n] : r->checks.items()) {
      total += n.get<std::int64_t>();
      std::cout << fmt::format("{:46} {}\n", name, n.get<std::int64_t>());
    }
    for (const auto& note : r->notes) std::cout << "note: " << note.get<std::string>() << "\n";
    std::cout << fmt::format("audit run {}: {} finding(s)\n", r->id, total);
  });
}

}  // namespace sp::cli
