// The audit module: the scheduled and on-demand security audit (the seed's Device Defender audit,
// translated), its admin routes under /api/admin/audit and the mitigation actions. Runs execute on
// the module's own thread, one at a time (the store's one-running-run index decides races with
// smartproductctl audit run).

#include "smartproduct/audit/module.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "modules/alerts/dto.hpp"
#include "smartproduct/audit/checks.hpp"
#include "smartproduct/audit/service.hpp"
#include "smartproduct/detect/service.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/http/paging.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/jitr/plugin_control.hpp"
#include "smartproduct/jitr/settings.hpp"
#include "smartproduct/pki/ca_service.hpp"
#include "store/sqlite/repositories/audit_repository.hpp"
#include "store/sqlite/repositories/maintenance.hpp"
#include "store/sqlite/store.hpp"

namespace sp::audit {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

json ms_or_null(const std::optional<std::int64_t>& ms) {
  return ms ? json(iso8601_ms(*ms)) : json(nullptr);
}

json run_json(const store::AuditRun& r) {
  std::int64_t total = 0;
  for (const auto& [name, n] : r.checks.items()) total += n.get<std::int64_t>();
  json out = {{"id", r.id},
              {"trigger", r.trigger},
              {"status", r.status},
              {"startedAt", iso8601_ms(r.started_at_ms)},
              {"finishedAt", ms_or_null(r.finished_at_ms)},
              {"checks", r.checks},
              {"findingsCount", total},
              {"notes", r.notes}};
  if (!r.error.empty()) out["error"] = r.error;
  return out;
}

json finding_json(const store::AuditFinding& f) {
  json out = {{"id", f.id},
              {"check", f.check},
              {"severity", f.severity},
              {"resourceType", f.resource_type},
              {"resourceId", f.resource_id},
              {"reason", f.reason},
              {"details", f.details},
              {"status", f.status},
              {"firstSeen", iso8601_ms(f.first_seen_ms)},
              {"lastSeen", iso8601_ms(f.last_seen_ms)},
              {"resolvedAt", ms_or_null(f.resolved_at_ms)},
              {"firstRunId", f.first_run},
              {"lastRunId", f.last_run}};
  if (f.status == "suppressed") {
    out["suppressReason"] = f.suppress_reason.value_or("");
    out["suppressedUntil"] = ms_or_null(f.suppressed_until_ms);
  }
  return out;
}

// An event type (the alert levels of a user's settings) for a severity.
const char* event_type(const std::string& severity) {
  if (severity == "critical" || severity == "high") return "error";
  if (severity == "medium") return "warning";
  return "info";
}

// One system event per raised finding (idempotent per finding and run), and one that says how
// many more there were when a run raised more than it publishes.
void record_finding_events(events::EventService& event_service,
                           const std::vector<std::string>& admins, const AuditRunCompleted& e) {
  for (const auto& f : e.raised) {
    const std::string message = fmt::format("Security audit: {} ({}) on {} {}: {}", f.check,
                                            f.severity, f.resource_type, f.resource_id, f.reason);
    event_service.record_system_event(admins, event_type(f.severity), message,
                                      json{{"source", "audit"},
                                           {"runId", e.run_id},
                                           {"findingId", f.id},
                                           {"check", f.check},
                                           {"severity", f.severity},
                                           {"resourceType", f.resource_type},
                                           {"resourceId", f.resource_id}},
                                      fmt::format("audit-finding-{}-run-{}", f.id, e.run_id));
  }
  const auto more = e.new_findings - static_cast<std::int64_t>(e.raised.size());
  if (more > 0) {
    event_service.record_system_event(
        admins, "warning",
        fmt::format("Security audit run {} raised {} more findings: see the Security page.",
                    e.run_id, more),
        json{{"source", "audit"}, {"runId", e.run_id}, {"more", more}},
        fmt::format("audit-run-{}-more", e.run_id));
  }
}

// The device a finding is about: its resource, or the device of its certificate / client id.
std::optional<std::string> finding_device(const store::AuditFinding& f) {
  if (f.resource_type == "device") return f.resource_id;
  auto d = f.details.find("deviceId");
  if (d != f.details.end() && d->is_string() && !d->get_ref<const std::string&>().empty()) {
    return d->get<std::string>();
  }
  return std::nullopt;
}

Result<std::optional<std::string>> filter_param(const Request& req, const char* name,
                                                std::initializer_list<std::string_view> allowed) {
  auto v = req.query_param(name);
  if (!v || v->empty()) return std::optional<std::string>{};
  if (allowed.size() && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
    return fail(errors::kInvalidQuery, std::string(name) + " is not a known value.");
  }
  return std::optional<std::string>(std::string(*v));
}

class AuditModule final : public Module {
 public:
  std::string_view name() const override { return "audit"; }

  void configure(config::Section& section, const config::DaemonConfig&) override {
    settings_ = read_audit_settings(section);
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    devices_ = &ctx.services.get<devices::DeviceService>();
    cas_ = ctx.services.find<pki::CaService>();
    plugin_ = ctx.services.find<jitr::PluginControl>();
    detect_ = ctx.services.find<detect::DetectService>();
    // Without the jitr module there is no capath nor managed CA folder to look at.
    const auto* jitr = ctx.services.find<const jitr::JitrSettings>();
    SnapshotPaths paths = snapshot_paths(ctx.config, jitr ? jitr->ca_dir : std::filesystem::path(),
                                         jitr ? jitr->managed_ca_dir : std::filesystem::path());
    repo_ = sqlite::make_audit_repository(ctx.store.main_ptr());
    source_ = std::make_unique<StoreSnapshotSource>(*repo_, std::move(paths), settings_);
    service_ = std::make_unique<AuditService>(*repo_, *source_, ctx.clock, ctx.bus);
    clock_ = &ctx.clock;
    // Findings a run raised become events of every administrator, so they reach their alerts and
    // notifications like any event (the alerts module groups them; settings pick the levels).
    if (auto* event_service = ctx.services.find<events::EventService>()) {
      ctx.bus.lane("audit-alerts")
          .on<AuditRunCompleted>(
              [event_service, db = ctx.store.main_ptr()](const AuditRunCompleted& e) {
                if (e.raised.empty()) return;
                auto admins = sqlite::admin_user_ids(db);
                if (!admins) {
                  spdlog::error("audit: administrators not found: {}", admins.error().detail);
                  return;
                }
                record_finding_events(*event_service, *admins, e);
              });
    }
    return {};
  }

  void register_routes(http::Router& router) override {
    auto add = [&](const char* method, const char* path, auto member) {
      router.add(method, path,
                 auth_->protect_admin([this, member](Request& req, const identity::Principal& p) {
                   return (this->*member)(req, p);
                 }));
    };
    add("POST", "/api/admin/audit/runs", &AuditModule::start_run);
    add("GET", "/api/admin/audit/runs", &AuditModule::list_runs);
    add("GET", "/api/admin/audit/runs/{runId}", &AuditModule::get_run);
    add("GET", "/api/admin/audit/summary", &AuditModule::summary);
    add("GET", "/api/admin/audit/findings", &AuditModule::list_findings);
    add("GET", "/api/admin/audit/findings/{findingId}", &AuditModule::get_finding);
    add("PUT", "/api/admin/audit/findings/{findingId}", &AuditModule::update_finding);
    add("POST", "/api/admin/audit/findings/{findingId}/actions", &AuditModule::action);
  }

  Result<void> start() override {
    if (auto n = service_->fail_interrupted(); n && *n > 0) {
      spdlog::warn("audit: {} run(s) interrupted by a restart were marked failed", *n);
    }
    worker_ = std::thread([this] { work(); });
    return {};
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    add_counter(out, "smartproduct_audit_runs_total", "Audit runs finished",
                static_cast<double>(runs_done_.load()));
    add_counter(out, "smartproduct_audit_run_failures_total", "Audit runs that failed",
                static_cast<double>(runs_failed_.load()));
  }

 private:
  // One thread runs the audits: those started through the API, and the daily one.
  void work() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      std::optional<std::int64_t> due;
      if (settings_.schedule_minute_of_day) {
        due = next_scheduled_ms(clock_->now_ms(), *settings_.schedule_minute_of_day);
      }
      auto ready = [&] {
        return stopping_ || !queued_.empty() || (due && clock_->now_ms() >= *due);
      };
      if (due) {
        const auto wait = std::chrono::milliseconds(
            std::max<std::int64_t>(0, std::min<std::int64_t>(*due - clock_->now_ms(), 60'000)));
        wake_.wait_for(lock, wait, ready);
      } else {
        wake_.wait(lock, ready);
      }
      if (stopping_) break;
      std::optional<std::int64_t> run_id;
      if (!queued_.empty()) {
        run_id = queued_.front();
        queued_.pop_front();
      } else if (!(due && clock_->now_ms() >= *due)) {
        continue;  // woke for the periodic re-check of the clock
      }
      lock.unlock();
      Result<store::AuditRun> r =
          run_id ? service_->execute(*run_id) : service_->run_now("scheduled");
      if (r) {
        ++runs_done_;
        spdlog::info("audit: run {} ({}) completed: {}", r->id, r->trigger, r->checks.dump());
      } else if (r.error().name != errors::kAuditRunning.name) {
        ++runs_failed_;
        spdlog::error("audit: run failed: {} {}", r.error().message, r.error().detail);
      }
      lock.lock();
    }
  }

  Response start_run(Request&, const identity::Principal&) {
    auto id = service_->start_run("manual");
    if (!id) return Response::error(id.error());
    {
      std::lock_guard lock(mutex_);
      queued_.push_back(*id);
    }
    wake_.notify_all();
    auto response = Response::json(202, json{{"runId", *id}, {"status", "running"}});
    response.set_header("location", "/api/admin/audit/runs/" + std::to_string(*id));
    return response;
  }

  Response list_runs(Request& req, const identity::Principal&) {
    auto page = http::parse_page<std::int64_t>(req, http::id_page_key);
    if (!page) return Response::error(page.error());
    auto rows = service_->runs(page->limit + 1, page->after);
    if (!rows) return Response::error(rows.error());
    auto next = http::trim_page(*rows, page->limit, http::id_key_of);
    json items = json::array();
    for (const auto& r : *rows) items.push_back(run_json(r));
    return Response::json(200, http::page_json(std::move(items), next));
  }

  Response get_run(Request& req, const identity::Principal&) {
    auto id = http::decimal_id(req.param("runId"));
    if (!id) return Response::error(errors::kAuditRunNotFound);
    auto r = service_->run(*id);
    if (!r) return Response::error(r.error());
    return Response::json(200, run_json(*r));
  }

  // What the Security page's tiles need without paging through every finding: live findings by
  // severity and by check, and the newest run.
  Response summary(Request&, const identity::Principal&) {
    auto counts = service_->finding_counts();
    if (!counts) return Response::error(counts.error());
    auto runs = service_->runs(1, std::nullopt);
    if (!runs) return Response::error(runs.error());
    json by_severity = json::object();
    for (const auto* s : {"critical", "high", "medium", "low"}) {
      by_severity["open"][s] = 0;
      by_severity["suppressed"][s] = 0;
    }
    json by_check = json::object();
    for (const auto& c : *counts) {
      by_severity[c.status][c.severity] =
          by_severity[c.status][c.severity].get<std::int64_t>() + c.count;
      if (c.status == "open") {
        by_check[c.check] = by_check.value(c.check, std::int64_t{0}) + c.count;
      }
    }
    return Response::json(
        200, json{{"open", by_severity["open"]},
                  {"suppressed", by_severity["suppressed"]},
                  {"openByCheck", by_check},
                  {"latestRun", runs->empty() ? json(nullptr) : run_json(runs->front())}});
  }

  Response list_findings(Request& req, const identity::Principal&) {
    store::AuditFindingFilter filter;
    auto check = filter_param(req, "check", {});
    if (!check) return Response::error(check.error());
    if (*check && !find_check(**check)) {
      return Response::error(errors::kInvalidQuery, "check is not a known audit check.");
    }
    auto severity = filter_param(req, "severity", {"critical", "high", "medium", "low"});
    if (!severity) return Response::error(severity.error());
    auto status = filter_param(req, "status", {"open", "suppressed", "resolved"});
    if (!status) return Response::error(status.error());
    auto device = filter_param(req, "deviceId", {});
    if (!device) return Response::error(device.error());
    filter.check = *check;
    filter.severity = *severity;
    filter.status = *status;
    filter.device_id = *device;
    auto page = http::parse_page<std::int64_t>(req, http::id_page_key);
    if (!page) return Response::error(page.error());
    auto rows = service_->findings(filter, page->limit + 1, page->after);
    if (!rows) return Response::error(rows.error());
    auto next = http::trim_page(*rows, page->limit, http::id_key_of);
    json items = json::array();
    for (const auto& f : *rows) items.push_back(finding_json(f));
    return Response::json(200, http::page_json(std::move(items), next));
  }

  Response get_finding(Request& req, const identity::Principal&) {
    auto id = http::decimal_id(req.param("findingId"));
    if (!id) return Response::error(errors::kAuditFindingNotFound);
    auto f = service_->finding(*id);
    if (!f) return Response::error(f.error());
    return Response::json(200, finding_json(*f));
  }

  // {status: "suppressed", reason, until?} or {status: "open"}.
  Response update_finding(Request& req, const identity::Principal&) {
    auto id = http::decimal_id(req.param("findingId"));
    if (!id) return Response::error(errors::kAuditFindingNotFound);
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    FindingChange change;
    auto status = body->find("status");
    if (status == body->end()) return Response::error(errors::kMissingField, "status is required.");
    if (!status->is_string())
      return Response::error(errors::kInvalidField, "status must be a string.");
    change.status = status->get<std::string>();
    if (auto r = body->find("reason"); r != body->end() && !r->is_null()) {
      if (!r->is_string())
        return Response::error(errors::kInvalidField, "reason must be a string.");
      change.reason = r->get<std::string>();
    }
    if (auto u = body->find("until"); u != body->end() && !u->is_null()) {
      if (u->is_number_integer()) {
        change.until_ms = u->get<std::int64_t>();
      } else if (u->is_string()) {
        change.until_ms = alerts::parse_iso8601_ms(u->get_ref<const std::string&>());
        if (!change.until_ms) {
          return Response::error(errors::kInvalidParameter,
                                 "until must be an ISO-8601 date-time with a zone or epoch ms.");
        }
      } else {
        return Response::error(errors::kInvalidField,
                               "until must be an ISO-8601 string, epoch milliseconds or null.");
      }
    }
    auto f = service_->update_finding(*id, change);
    if (!f) return Response::error(f.error());
    return Response::json(200, finding_json(*f));
  }

  // {action: "revoke-certificate" | "disable-ca" | "kick-device"}: the existing services do the
  // work (they tell the broker plugin through the bus); the next run resolves the finding.
  // kick-device only disconnects (the device may come back): for a device fighting over a client
  // id or a certificate seen from two places, while its owner is asked; revoke is the cure.
  Response action(Request& req, const identity::Principal& p) {
    auto id = http::decimal_id(req.param("findingId"));
    if (!id) return Response::error(errors::kAuditFindingNotFound);
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto a = body->find("action");
    if (a == body->end()) return Response::error(errors::kMissingField, "action is required.");
    if (!a->is_string()) return Response::error(errors::kInvalidField, "action must be a string.");
    const std::string action = a->get<std::string>();
    if (action != "revoke-certificate" && action != "disable-ca" && action != "kick-device" &&
        action != "quarantine-device") {
      return Response::error(
          errors::kInvalidParameter,
          "action must be revoke-certificate, disable-ca, kick-device or quarantine-device.");
    }
    auto f = service_->finding(*id);
    if (!f) return Response::error(f.error());
    if (action == "quarantine-device") {
      const auto device = finding_device(*f);
      if (!device || !detect_) {
        return Response::error(errors::kAuditActionNotApplicable,
                               "quarantine-device applies to findings about a device.");
      }
      auto added = detect_->quarantine(
          *device, fmt::format("audit finding {}: {}", f->id, f->check), "audit", p.user_id);
      if (!added) return Response::error(added.error());
      spdlog::info("audit: finding {}: device {} quarantined by {}", f->id, *device, p.user_id);
      return Response::json(200, json{{"action", action},
                                      {"findingId", f->id},
                                      {"deviceId", *device},
                                      {"status", "QUARANTINED"}});
    }
    if (action == "kick-device") {
      const auto device = finding_device(*f);
      if (!device || !plugin_) {
        return Response::error(errors::kAuditActionNotApplicable,
                               "kick-device applies to findings about a device.");
      }
      plugin_->kick_device(*device);
      spdlog::info("audit: finding {}: device {} disconnected by {}", f->id, *device, p.user_id);
      return Response::json(200, json{{"action", action},
                                      {"findingId", f->id},
                                      {"deviceId", *device},
                                      {"status", "DISCONNECT_REQUESTED"}});
    }
    if (action == "revoke-certificate") {
      auto device = f->details.find("deviceId");
      if (f->resource_type != "certificate" || device == f->details.end() || !device->is_string()) {
        return Response::error(errors::kAuditActionNotApplicable,
                               "revoke-certificate applies to device certificate findings.");
      }
      auto cert = devices_->revoke_certificate(devices::Caller{p.user_id, true},
                                               device->get<std::string>(), f->resource_id);
      if (!cert) return Response::error(cert.error());
      spdlog::info("audit: finding {}: certificate {} of {} revoked by {}", f->id, f->resource_id,
                   device->get<std::string>(), p.user_id);
      return Response::json(200, json{{"action", action},
                                      {"findingId", f->id},
                                      {"certificate", f->resource_id},
                                      {"status", "REVOKED"}});
    }
    if (f->resource_type != "ca" || !cas_) {
      return Response::error(errors::kAuditActionNotApplicable,
                             "disable-ca applies to registered device CA findings.");
    }
    auto ca = cas_->update(f->resource_id, pki::CaStatus::kInactive, std::nullopt);
    if (!ca) return Response::error(ca.error());
    spdlog::info("audit: finding {}: CA {} set INACTIVE by {}", f->id, f->resource_id, p.user_id);
    return Response::json(200, json{{"action", action},
                                    {"findingId", f->id},
                                    {"ca", f->resource_id},
                                    {"status", "INACTIVE"}});
  }

  AuditSettings settings_;
  const identity::Authenticator* auth_ = nullptr;
  devices::DeviceService* devices_ = nullptr;
  pki::CaService* cas_ = nullptr;
  jitr::PluginControl* plugin_ = nullptr;
  detect::DetectService* detect_ = nullptr;
  const Clock* clock_ = nullptr;
  std::unique_ptr<store::AuditRepository> repo_;
  std::unique_ptr<StoreSnapshotSource> source_;
  std::unique_ptr<AuditService> service_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::int64_t> queued_;
  bool stopping_ = false;
  std::thread worker_;
  std::atomic<std::int64_t> runs_done_{0};
  std::atomic<std::int64_t> runs_failed_{0};
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<AuditModule>(); }

}  // namespace sp::audit
