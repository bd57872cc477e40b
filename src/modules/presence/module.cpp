// The presence module: device connectivity as the broker plugin reports it ($SYS presence events,
// resyncs after a lost session), and how devices reach the broker (/api/connection-info).

#include "smartproduct/presence/module.hpp"

#include <fstream>
#include <iterator>

#include "smartproduct/devices/routes.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/mqtt/events.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/presence/service.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::presence {
namespace {

class PresenceModule final : public Module {
 public:
  std::string_view name() const override { return "presence"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    section.finish();  // no keys yet
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    repo_ = sqlite::make_presence_repository(ctx.store.main_ptr());
    service_ = std::make_unique<PresenceService>(*repo_, ctx.publisher, ctx.clock, ctx.bus,
                                                 // The daemon's own connections are not devices.
                                                 std::set<std::string>{"svc-backend"});
    ctx.services.provide(*service_);
    // Without our session the broker forgot the presence events we missed: ask for the truth.
    ctx.bus.lane("presence").on<mqtt::BrokerConnected>([this](const mqtt::BrokerConnected& e) {
      if (!e.session_present) service_->request_resync();
    });

    const auto& b = ctx.config.broker;
    // The broker's trust anchor is the platform root the daemon itself trusts for it.
    std::ifstream ca(b.ca_file);
    info_.root_ca_pem.assign(std::istreambuf_iterator<char>(ca), std::istreambuf_iterator<char>());
    info_.mqtt_host = b.public_host;
    info_.mqtt_port = b.public_port ? b.public_port : b.port;
    auto* telemetry = ctx.services.find<telemetry::TelemetryService>();
    auto* events = ctx.services.find<events::EventService>();
    info_.telemetry_topic =
        telemetry ? telemetry->config().topic : std::string(kDefaultTelemetryTopic);
    info_.event_topic = events ? events->config().topic : std::string(kDefaultEventTopic);
    return {};
  }

  void register_routes(http::Router& router) override {
    devices::add_connection_info_route(router, info_, *auth_);
  }

  void register_topics(mqtt::TopicRouter& topics) override {
    topics.add(std::string(kPresencePrefix) + "#", 1, [this](mqtt::Message&& m, mqtt::Done done) {
      service_->on_presence(m.topic, m.payload, std::move(done));
    });
    topics.add(std::string(kControlResponseTopic), 1, [this](mqtt::Message&& m, mqtt::Done done) {
      service_->on_control_response(m.payload, std::move(done));
    });
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    auto& c = service_->counters();
    add_counter(out, "smartproduct_presence_events_total", "Presence events from the broker",
                c.events.load());
    add_counter(out, "smartproduct_presence_broker_restarts_total", "New broker epochs seen",
                c.broker_restarts.load());
    if (auto n = repo_->connected_count()) {
      add_gauge(out, "smartproduct_devices_connected", "Devices connected now",
                static_cast<double>(*n));
    }
  }

 private:
  const identity::Authenticator* auth_ = nullptr;
  std::unique_ptr<store::PresenceRepository> repo_;
  std::unique_ptr<PresenceService> service_;
  devices::ConnectionInfo info_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<PresenceModule>(); }

}  // namespace sp::presence
