// The detect module: behaviour detection (the Defender Detect part of issue 15). It takes the
// broker plugin's per-device behaviour reports ($SYS/smartproduct/behaviour), judges them against
// the security profiles (GET/PUT /api/admin/security-profiles), records violations
// (/api/admin/security-violations), raises and clears them as administrators' events (their
// alerts and notifications), and quarantines (/api/admin/quarantine) or revokes.

#include "smartproduct/detect/module.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "smartproduct/alerts/service.hpp"
#include "smartproduct/broker/protocol.hpp"
#include "smartproduct/detect/profiles.hpp"
#include "smartproduct/detect/service.hpp"
#include "smartproduct/devices/events.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/http/paging.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/jitr/plugin_control.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/presence/service.hpp"
#include "store/sqlite/repositories/detect_repository.hpp"
#include "store/sqlite/repositories/maintenance.hpp"
#include "store/sqlite/store.hpp"

namespace sp::detect {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

json ms_or_null(const std::optional<std::int64_t>& ms) {
  return ms ? json(iso8601_ms(*ms)) : json(nullptr);
}

json violation_json(const store::Violation& v) {
  return json{{"id", v.id},
              {"deviceId", v.device_id},
              {"profile", v.profile},
              {"rule", v.rule},
              {"metric", v.metric},
              {"value", v.value},
              {"threshold", v.threshold},
              {"statistic", v.statistic ? json(*v.statistic) : json(nullptr)},
              {"action", v.action},
              {"status", v.status},
              {"startedAt", iso8601_ms(v.started_at_ms)},
              {"lastViolationAt", iso8601_ms(v.last_violation_at_ms)},
              {"clearedAt", ms_or_null(v.cleared_at_ms)}};
}

json quarantine_json(const store::Quarantine& q) {
  return json{{"deviceId", q.device_id},
              {"reason", q.reason},
              {"source", q.source},
              {"violationId", q.violation_id ? json(*q.violation_id) : json(nullptr)},
              {"since", iso8601_ms(q.created_at_ms)},
              {"by", q.created_by}};
}

json profiles_json(const std::vector<Profile>& profiles) {
  json list = json::array();
  for (const auto& p : profiles) list.push_back(profile_json(p));
  json metrics = json::array();
  for (auto m : kMetricNames) metrics.push_back(m);
  return json{{"profiles", std::move(list)}, {"metrics", std::move(metrics)}};
}

class DetectModule final : public Module {
 public:
  std::string_view name() const override { return "detect"; }

  void configure(config::Section& section, const config::DaemonConfig&) override {
    enabled_ = section.boolean("enabled", true);
    settings_.max_queued_reports =
        static_cast<std::size_t>(section.integer("max_queued_reports", 1000, 10, 100000));
    settings_.baseline_flush_ms = section.integer("baseline_flush_seconds", 300, 1, 86400) * 1000;
    section.finish();
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    devices_ = &ctx.services.get<devices::DeviceService>();
    auto* plugin = ctx.services.find<jitr::PluginControl>();
    presence_ = ctx.services.find<presence::PresenceService>();
    auto* events = ctx.services.find<events::EventService>();
    repo_ = sqlite::make_detect_repository(ctx.store.main_ptr());

    const devices::Caller system{"detect", true};
    DetectActions actions;
    actions.model_of = [devices = devices_, system](const std::string& id) {
      auto r = devices->device(system, id);
      return r ? std::optional<std::string>(r->model_number) : std::nullopt;
    };
    if (plugin) {
      actions.quarantine_at_broker = [plugin](const std::string& id) { plugin->quarantine(id); };
      actions.release_at_broker = [plugin](const std::string& id) { plugin->release(id); };
    }
    actions.revoke_device = [devices = devices_, system](const std::string& id) -> Result<int> {
      auto certs = devices->certificates(system, id);
      if (!certs) return tl::unexpected(certs.error());
      int n = 0;
      for (const auto& c : *certs) {
        if (c.status != devices::CertificateStatus::kActive &&
            c.status != devices::CertificateStatus::kPendingActivation) {
          continue;
        }
        auto r = devices->revoke_certificate(system, id, c.fingerprint);
        if (!r) return tl::unexpected(r.error());
        ++n;
      }
      return n;
    };
    if (events) {
      actions.notify_admins = [events, db = ctx.store.main_ptr()](
                                  const std::string& type, const std::string& message,
                                  const json& details, const std::string& key) {
        auto admins = sqlite::admin_user_ids(db);
        if (!admins) {
          spdlog::error("detect: administrators not found: {}", admins.error().detail);
          return;
        }
        events->record_system_event(*admins, type, message, details, key);
      };
    }
    if (auto* alerts = ctx.services.find<alerts::AlertService>()) {
      actions.resolve_admin_alert = [alerts](const std::string& key) {
        if (auto r = alerts->resolve_system_event(key); !r) {
          spdlog::error("detect: alerts of {} not resolved: {}", key, r.error().detail);
        }
      };
    }
    service_ = std::make_unique<DetectService>(*repo_, ctx.clock, std::move(actions), settings_);
    ctx.services.provide(*service_);
    // A registration changes which model's profiles apply to the serial.
    auto forget = [this](const std::string& id) { service_->forget_model(id); };
    ctx.bus.lane("detect-devices")
        .on<devices::DeviceRegistered>(
            [forget](const devices::DeviceRegistered& e) { forget(e.device_id); })
        .on<devices::DeviceDeleted>(
            [forget](const devices::DeviceDeleted& e) { forget(e.device_id); });
    return {};
  }

  void register_routes(http::Router& router) override {
    auto add = [&](const char* method, const char* path, auto member) {
      router.add(method, path,
                 auth_->protect_admin([this, member](Request& req, const identity::Principal& p) {
                   return (this->*member)(req, p);
                 }));
    };
    add("GET", "/api/admin/security-profiles", &DetectModule::get_profiles);
    add("PUT", "/api/admin/security-profiles", &DetectModule::put_profiles);
    add("GET", "/api/admin/security-violations", &DetectModule::list_violations);
    add("GET", "/api/admin/quarantine", &DetectModule::list_quarantine);
    add("GET", "/api/admin/quarantine/{deviceId}", &DetectModule::get_quarantine);
    add("PUT", "/api/admin/quarantine/{deviceId}", &DetectModule::put_quarantine);
    add("DELETE", "/api/admin/quarantine/{deviceId}", &DetectModule::release);
  }

  void register_topics(mqtt::TopicRouter& topics) override {
    if (!enabled_) return;
    // Acknowledged at once: a report is a summary, the worker judges it off the MQTT thread, and
    // a report lost with a crash only delays a verdict by one interval.
    topics.add(std::string(broker::kBehaviourTopic), 1, [this](mqtt::Message&& m, mqtt::Done done) {
      service_->on_report(m.payload);
      done(true);
    });
  }

  Result<void> start() override { return service_->start(); }
  void stop() override { service_->stop(); }

  void report_metrics(std::vector<MetricSample>& out) const override {
    const auto& c = service_->counters();
    add_counter(out, "smartproduct_detect_reports_total", "Behaviour reports judged",
                static_cast<double>(c.reports.load()));
    add_counter(out, "smartproduct_detect_reports_dropped_total",
                "Behaviour reports dropped: the detection worker was behind",
                static_cast<double>(c.reports_dropped.load()));
    add_counter(out, "smartproduct_detect_reports_invalid_total",
                "Behaviour reports that were not valid",
                static_cast<double>(c.reports_invalid.load()));
    add_counter(out, "smartproduct_detect_samples_total", "Per-device behaviour samples judged",
                static_cast<double>(c.samples.load()));
    add_counter(out, "smartproduct_detect_violations_raised_total", "Violations raised",
                static_cast<double>(c.raised.load()));
    add_counter(out, "smartproduct_detect_violations_cleared_total", "Violations cleared",
                static_cast<double>(c.cleared.load()));
    add_counter(out, "smartproduct_detect_worker_seconds_total",
                "Time the detection worker spent judging reports",
                static_cast<double>(c.process_ns.load()) / 1e9);
    add_gauge(out, "smartproduct_detect_tracked_devices",
              "Devices with an open window, an active violation or unsaved baselines",
              static_cast<double>(c.tracked_devices.load()));
    if (auto n = repo_->quarantined_count()) {
      add_gauge(out, "smartproduct_devices_quarantined", "Devices in quarantine",
                static_cast<double>(*n));
    }
  }

 private:
  Response get_profiles(Request&, const identity::Principal&) {
    auto p = service_->profiles();
    if (!p) return Response::error(p.error());
    return Response::json(200, profiles_json(*p));
  }

  Response put_profiles(Request& req, const identity::Principal& who) {
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto p = service_->replace_profiles(*body);
    if (!p) return Response::error(p.error());
    spdlog::info("detect: security profiles replaced by {} ({} profile(s))", who.user_id,
                 p->size());
    return Response::json(200, profiles_json(*p));
  }

  Response list_violations(Request& req, const identity::Principal&) {
    store::ViolationFilter filter;
    if (auto s = req.query_param("status"); s && !s->empty() && *s != "all") {
      if (*s != "active" && *s != "cleared") {
        return Response::error(errors::kInvalidQuery, "status must be active, cleared or all.");
      }
      filter.status = std::string(*s);
    }
    if (auto d = req.query_param("deviceId"); d && !d->empty()) {
      if (!is_valid_device_id(*d)) return Response::error(errors::kInvalidDeviceId);
      filter.device_id = std::string(*d);
    }
    auto page = http::parse_page<std::int64_t>(req, http::id_page_key);
    if (!page) return Response::error(page.error());
    auto rows = service_->violations(filter, page->limit + 1, page->after);
    if (!rows) return Response::error(rows.error());
    auto next = http::trim_page(*rows, page->limit, http::id_key_of);
    json items = json::array();
    for (const auto& v : *rows) items.push_back(violation_json(v));
    return Response::json(200, http::page_json(std::move(items), next));
  }

  Response list_quarantine(Request& req, const identity::Principal&) {
    auto page =
        http::parse_page<std::string>(req, [](const json& key) -> std::optional<std::string> {
          auto d = key.find("d");
          if (d == key.end() || !d->is_string()) return std::nullopt;
          return d->get<std::string>();
        });
    if (!page) return Response::error(page.error());
    auto rows = service_->quarantined(page->limit + 1, page->after);
    if (!rows) return Response::error(rows.error());
    auto next = http::trim_page(*rows, page->limit, [](const store::Quarantine& q) {
      return json{{"d", q.device_id}};
    });
    json items = json::array();
    for (const auto& q : *rows) items.push_back(quarantine_json(q));
    return Response::json(200, http::page_json(std::move(items), next));
  }

  // A device the platform knows: registered, one whose certificate the platform recorded, or one
  // the broker has seen connect (without JITR an unregistered device may connect).
  Result<void> known_device(const std::string& id) {
    if (!is_valid_device_id(id)) return fail(errors::kMissingDevice);
    const devices::Caller admin{"detect", true};
    if (devices_->device(admin, id)) return {};
    auto certs = devices_->certificates(admin, id);
    if (certs && !certs->empty()) return {};
    if (presence_) {
      auto seen = presence_->state(id);
      if (seen && *seen) return {};
    }
    return fail(errors::kMissingDevice);
  }

  Response get_quarantine(Request& req, const identity::Principal&) {
    const std::string id = req.param("deviceId");
    auto q = service_->quarantine_of(id);
    if (!q) return Response::error(q.error());
    if (!*q) {
      if (auto known = known_device(id); !known) return Response::error(known.error());
      return Response::error(errors::kNotQuarantined);
    }
    return Response::json(200, quarantine_json(**q));
  }

  Response put_quarantine(Request& req, const identity::Principal& who) {
    const std::string id = req.param("deviceId");
    std::string reason = "quarantined by an administrator";
    if (!req.body.empty()) {
      auto body = http::parse_json_object(req);
      if (!body) return Response::error(body.error());
      if (auto r = body->find("reason"); r != body->end() && !r->is_null()) {
        if (!r->is_string())
          return Response::error(errors::kInvalidField, "reason must be a string.");
        if (r->get_ref<const std::string&>().size() > 500) {
          return Response::error(errors::kInvalidParameter, "reason is at most 500 characters.");
        }
        if (!r->get_ref<const std::string&>().empty()) reason = r->get<std::string>();
      }
    }
    if (auto known = known_device(id); !known) return Response::error(known.error());
    auto added = service_->quarantine(id, reason, "admin", who.user_id);
    if (!added) return Response::error(added.error());
    auto q = service_->quarantine_of(id);
    if (!q) return Response::error(q.error());
    if (!*q) return Response::error(errors::kNotQuarantined);  // released meanwhile
    return Response::json(*added ? 201 : 200, quarantine_json(**q));
  }

  Response release(Request& req, const identity::Principal& who) {
    const std::string id = req.param("deviceId");
    if (auto r = service_->release(id, who.user_id); !r) return Response::error(r.error());
    return Response::json(200, json{{"deviceId", id}, {"status", "RELEASED"}});
  }

  bool enabled_ = true;
  DetectSettings settings_;
  const identity::Authenticator* auth_ = nullptr;
  devices::DeviceService* devices_ = nullptr;
  presence::PresenceService* presence_ = nullptr;
  std::unique_ptr<store::DetectRepository> repo_;
  std::unique_ptr<DetectService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<DetectModule>(); }

}  // namespace sp::detect
