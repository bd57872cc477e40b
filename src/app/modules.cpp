#include "app/modules.hpp"

#include "smartproduct/alerts/module.hpp"
#include "smartproduct/audit/module.hpp"
#include "smartproduct/backup/module.hpp"
#include "smartproduct/catalog/module.hpp"
#include "smartproduct/commands/module.hpp"
#include "smartproduct/datasets/module.hpp"
#include "smartproduct/detect/module.hpp"
#include "smartproduct/devices/module.hpp"
#include "smartproduct/events/module.hpp"
#include "smartproduct/identity/module.hpp"
#include "smartproduct/ingest/module.hpp"
#include "smartproduct/jitr/module.hpp"
#include "smartproduct/live/module.hpp"
#include "smartproduct/notifications/module.hpp"
#include "smartproduct/presence/module.hpp"
#include "smartproduct/settings/module.hpp"
#include "smartproduct/shadow/module.hpp"
#include "smartproduct/telemetry/module.hpp"

namespace sp::app {

std::vector<std::unique_ptr<Module>> make_modules() {
  std::vector<std::unique_ptr<Module>> m;
  m.push_back(identity::make_module());       // accounts, tokens, the Authenticator
  m.push_back(settings::make_module());       // per-user settings
  m.push_back(catalog::make_module());        // the reference catalog
  m.push_back(devices::make_module());        // registrations, devices, certificates
  m.push_back(jitr::make_module());           // device CAs, JITR, the broker plugin's state
  m.push_back(telemetry::make_module());      // telemetry ingest
  m.push_back(alerts::make_module());         // event routes, alert groups ([alerts])
  m.push_back(events::make_module());         // device events ingest (grouped into alerts)
  m.push_back(ingest::make_module());         // where telemetry and events come from (spool | mqtt)
  m.push_back(presence::make_module());       // connectivity, /api/connection-info
  m.push_back(shadow::make_module());         // device shadows, /api/devices/{id}/status
  m.push_back(commands::make_module());       // remote commands, their replies and timeouts
  m.push_back(notifications::make_module());  // the outbox worker: email, SMS, webhooks
  m.push_back(live::make_module());           // GET /api/ws: live updates from the bus
  m.push_back(detect::make_module());         // behaviour detection ([detect]), quarantine
  m.push_back(audit::make_module());          // security audit ([audit]), /api/admin/audit
  m.push_back(backup::make_module());         // backups ([backup]), /api/admin/backups
  m.push_back(datasets::make_module());  // telemetry datasets ([datasets]), /api/admin/datasets
  return m;
}

Configuration load_configuration(const std::filesystem::path& file) {
  Configuration out;
  auto core = config::load_daemon_config(file);
  out.errors = std::move(core.errors);
  if (!core.document) return out;  // did not parse
  // Modules are configured even when core had errors, so that one run reports every problem.
  config::DaemonConfig fallback;
  fallback.file = core.document->file();
  const config::DaemonConfig& base = core.config ? *core.config : fallback;
  out.modules = make_modules();
  std::vector<std::string> known = config::core_sections();
  for (auto& module : out.modules) {
    auto section = core.document->section(std::string(module->name()), out.errors);
    module->configure(section, base);
    known.emplace_back(module->name());
  }
  core.document->check_sections(known, out.errors);
  if (out.errors.empty()) out.config = std::move(core.config);
  return out;
}

}  // namespace sp::app
