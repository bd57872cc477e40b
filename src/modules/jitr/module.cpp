// The jitr module: registered device CAs (/api/admin/cas) and just-in-time registration of device
// certificates, and the daemon's control channel to the broker plugin. Everything the broker must
// learn arrives on one bus lane, so JITR sees it in the order it happened.

#include "smartproduct/jitr/module.hpp"

#include <fmt/format.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "smartproduct/catalog/service.hpp"
#include "smartproduct/core/readiness.hpp"
#include "smartproduct/devices/events.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/jitr/plugin_control.hpp"
#include "smartproduct/jitr/service.hpp"
#include "smartproduct/jitr/settings.hpp"
#include "smartproduct/mqtt/events.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/pki/ca_routes.hpp"
#include "smartproduct/pki/ca_service.hpp"
#include "smartproduct/pki/events.hpp"
#include "smartproduct/presence/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::jitr {
namespace {

// JITR only protects anything if the plugin gates devices until they are activated, and with the
// gate on but JITR off no device would ever get rights. The daemon writes neither file, so a
// managed broker's config is checked against [jitr] before it is started.
Result<void> check_activation_gate(const std::filesystem::path& mosquitto_conf, bool jitr_enabled) {
  std::ifstream in(mosquitto_conf);
  if (!in) return {};  // the supervisor reports a missing file
  std::string line;
  std::optional<std::string> value;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, v;
    if (words >> key >> v && key == "plugin_opt_require_activation") value = v;
  }
  const bool gated = value && *value == "true";
  if (gated == jitr_enabled) return {};
  return fail(ErrorKind::kUnprocessable, "ActivationGateMismatch",
              fmt::format("[jitr] enabled = {} but {} has plugin_opt_require_activation {}: set "
                          "both to the same value (smartproductctl init --jitr on|off writes both)",
                          jitr_enabled, mosquitto_conf.string(), value.value_or("(unset)")));
}

class JitrModule final : public Module {
 public:
  std::string_view name() const override { return "jitr"; }

  void configure(config::Section& section, const config::DaemonConfig&) override {
    settings_ = read_jitr_settings(section);
  }

  Result<void> build(ModuleContext& ctx) override {
    if (ctx.config.broker.mode == config::BrokerSettings::Mode::kManaged) {
      if (auto r = check_activation_gate(ctx.config.broker.mosquitto_conf, settings_.enabled); !r) {
        return r;
      }
    }
    auth_ = &ctx.services.get<const identity::Authenticator>();
    auto& catalog = ctx.services.get<catalog::CatalogService>();
    auto& devices = ctx.services.get<store::DeviceRepository>();
    ca_repo_ = sqlite::make_ca_repository(ctx.store.main_ptr());
    cas_ = std::make_unique<pki::CaService>(
        *ca_repo_, ctx.clock,
        pki::CaServiceConfig{settings_.ca_dir, settings_.managed_ca_dir, ctx.config.broker.ca_file},
        ctx.bus);
    plugin_ = std::make_unique<PluginControl>(ctx.publisher);
    JitrConfig jc;
    jc.enabled = settings_.enabled;
    jc.security_event_interval = std::chrono::seconds(settings_.security_event_interval_s);
    jitr_ = std::make_unique<JitrService>(devices, *ca_repo_, catalog, *plugin_, ctx.clock, ctx.bus,
                                          jc);
    // The audit's disable-ca and kick-device actions and its view of the broker's capath.
    ctx.services.provide(*cas_);
    ctx.services.provide(*plugin_);
    ctx.services.provide<const JitrSettings>(settings_);

    // A dropped event (a flood) is repaired from the store: the whole state goes to the plugin and
    // pending certificates are re-evaluated.
    EventBus::LaneOptions lane_options;
    lane_options.on_overflow = [this] {
      jitr_->reconcile();
      jitr_->on_broker_connected();
    };
    JitrService& j = *jitr_;
    // A sync the plugin did not apply leaves the broker deciding with an old state: not ready.
    if (auto* probes = ctx.services.find<ReadinessProbes>()) {
      probes->add([&j](std::vector<std::string>& reasons) {
        for (auto& r : j.readiness()) reasons.push_back(std::move(r));
      });
    }
    ctx.bus.lane("jitr", std::move(lane_options))
        .on<presence::ConnectionEvent>([&j](const auto& e) { j.on_presence(e); })
        .on<devices::DeviceRegistered>([&j](const auto& e) { j.on_registered(e.device_id); })
        .on<devices::DeviceDeleted>([&j](const auto& e) { j.on_deleted(e.device_id); })
        .on<devices::CertificatesRevoked>(
            [&j](const auto& e) { j.on_certificates_revoked(e.fingerprints); })
        .on<pki::CaDisabled>([&j](const auto& e) { j.on_ca_disabled(e.ca_id); })
        .on<pki::CaEnabled>([&j](const auto& e) { j.on_ca_enabled(e.ca_id); })
        .on<mqtt::BrokerConnected>([&j](const auto&) { j.on_broker_connected(); });
    return {};
  }

  void register_routes(http::Router& router) override { pki::add_ca_routes(router, *cas_, *auth_); }

  void register_topics(mqtt::TopicRouter& topics) override {
    topics.add(std::string(presence::kControlResponseTopic), 1,
               [this](mqtt::Message&& m, mqtt::Done done) {
                 plugin_->on_control_response(m.payload);
                 done(true);
               });
  }

  Result<void> start() override {
    jitr_->reconcile();
    return {};
  }

  void stop() override { jitr_.reset(); }  // finishes queued work while the store is open

  void report_metrics(std::vector<MetricSample>& out) const override {
    if (!jitr_) return;
    auto& c = jitr_->counters();
    add_counter(out, "smartproduct_jitr_evaluated_total",
                "Device certificate connections evaluated", c.evaluated);
    add_counter(out, "smartproduct_jitr_activated_total", "Device certificates activated",
                c.activated);
    add_counter(out, "smartproduct_jitr_pending_total",
                "Certificates waiting for their registration", c.pending);
    add_counter(out, "smartproduct_jitr_refused_total", "Certificates refused", c.refused);
    add_counter(out, "smartproduct_security_events_total", "Security events recorded",
                c.security_events);
    add_counter(out, "smartproduct_jitr_failures_total", "JITR steps that failed (store errors)",
                c.failures);
    const auto sync = jitr_->sync_status();
    add_counter(out, "smartproduct_broker_state_syncs_total",
                "Whole-state syncs the broker plugin applied", c.syncs_applied);
    add_counter(out, "smartproduct_broker_state_sync_failures_total",
                "Whole-state syncs refused by the broker plugin, unanswered or unreadable",
                c.sync_failures);
    add_gauge(out, "smartproduct_broker_state_sync_ok",
              "1 when the broker plugin applied the last state sync, 0 while a retry is pending",
              sync.failing ? 0 : 1);
    add_gauge(out, "smartproduct_broker_state_sync_seconds",
              "Duration of the last applied state sync (store read to the plugin's answer)",
              static_cast<double>(sync.duration_ms) / 1000.0);
    add_gauge(out, "smartproduct_broker_state_entries",
              "Entries of the last state the broker plugin applied", sync.entries);
    add_counter(out, "smartproduct_broker_state_chunks_total", "stateChunk messages sent",
                plugin_->counters().sync_chunks);
  }

 private:
  JitrSettings settings_;
  const identity::Authenticator* auth_ = nullptr;
  std::unique_ptr<store::CaRepository> ca_repo_;
  std::unique_ptr<pki::CaService> cas_;
  std::unique_ptr<PluginControl> plugin_;
  std::unique_ptr<JitrService> jitr_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<JitrModule>(); }

}  // namespace sp::jitr
