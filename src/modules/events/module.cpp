// The events module: durable ingest of device events ([events], the seed's feature switch with its
// topic prefix). Each event is stamped with the device's owner at arrival.

#include "smartproduct/events/module.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "smartproduct/alerts/types.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/telemetry/retention.hpp"
#include "store/sqlite/repositories/maintenance.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::events {
namespace {

class EventsModule final : public Module {
 public:
  std::string_view name() const override { return "events"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    settings_ = read_ingest_settings(section, kDefaultEventTopic);
  }

  Result<void> build(ModuleContext& ctx) override {
    auto& devices = ctx.services.get<devices::DeviceService>();
    // With the alerts module before this one, each new event updates its alert group in the
    // event's own transaction.
    std::optional<alerts::Grouping> grouping;
    if (const auto* g = ctx.services.find<const alerts::Grouping>()) grouping = *g;
    repo_ = sqlite::make_event_repository(ctx.store.main_ptr(), grouping);
    service_ = std::make_unique<EventService>(
        settings_, *repo_, ctx.clock, ctx.bus,
        [&devices](const std::string& device_id) { return devices.owner_of(device_id); });
    ctx.services.provide(*service_);
    // The telemetry disk guard's pause/resume becomes an alert for every administrator.
    ctx.bus.lane("system-events")
        .on<telemetry::TelemetryIntakeChanged>([this, db = ctx.store.main_ptr()](
                                                   const telemetry::TelemetryIntakeChanged& e) {
          auto admins = sqlite::admin_user_ids(db);
          if (!admins) {
            spdlog::error("events: administrators not found: {}", admins.error().detail);
            return;
          }
          const std::string key =
              fmt::format("telemetry-intake-{}-{}", e.paused ? "paused" : "resumed", e.at_ms);
          service_->record_system_event(
              *admins, e.paused ? "error" : "info",
              e.paused ? "Telemetry intake paused: " + e.reason +
                             ". Devices' telemetry waits at the broker."
                       : "Telemetry intake resumed.",
              nlohmann::json{{"source", "telemetry"}, {"paused", e.paused}, {"reason", e.reason}},
              key);
        });
    return {};
  }

  // Topics: the ingest module feeds ingest() from the spool or an MQTT subscription.

  void report_metrics(std::vector<MetricSample>& out) const override {
    report_ingest_metrics(service_->counters(), "events", out);
  }

 private:
  IngestSettings settings_;
  std::unique_ptr<store::EventRepository> repo_;
  std::unique_ptr<EventService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<EventsModule>(); }

}  // namespace sp::events
