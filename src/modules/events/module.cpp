// The events module: durable ingest of device events ([events], the seed's feature switch with its
// topic prefix). Each event is stamped with the device's owner at arrival.

#include "smartproduct/events/module.hpp"

#include "smartproduct/devices/service.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/mqtt/types.hpp"
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
    repo_ = sqlite::make_event_repository(ctx.store.main_ptr());
    service_ = std::make_unique<EventService>(
        settings_, *repo_, ctx.clock, ctx.bus,
        [&devices](const std::string& device_id) { return devices.owner_of(device_id); });
    ctx.services.provide(*service_);
    return {};
  }

  void register_topics(mqtt::TopicRouter& topics) override {
    if (!settings_.enabled) return;
    topics.add(settings_.topic + "/+", 1, [this](mqtt::Message&& m, mqtt::Done done) {
      service_->ingest(m.topic, m.payload, std::move(done));
    });
  }

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
