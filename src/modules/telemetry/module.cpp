// The telemetry module: durable ingest of device telemetry ([telemetry], the seed's feature
// switch with its topic prefix).

#include "smartproduct/telemetry/module.hpp"

#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::telemetry {
namespace {

class TelemetryModule final : public Module {
 public:
  std::string_view name() const override { return "telemetry"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    settings_ = read_ingest_settings(section, kDefaultTelemetryTopic);
  }

  Result<void> build(ModuleContext& ctx) override {
    repo_ = sqlite::make_telemetry_repository(ctx.store.telemetry_ptr());
    service_ = std::make_unique<TelemetryService>(settings_, *repo_, ctx.clock, ctx.bus);
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
    report_ingest_metrics(service_->counters(), "telemetry", out);
  }

 private:
  IngestSettings settings_;
  std::unique_ptr<store::TelemetryRepository> repo_;
  std::unique_ptr<TelemetryService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<TelemetryModule>(); }

}  // namespace sp::telemetry
