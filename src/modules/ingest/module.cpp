// The ingest module: where device telemetry and events come from ([ingest] source).
//   spool  the broker plugin appends them to a local log before the PUBACK; we tail it and commit
//          our position with the rows (the default when the managed broker's plugin writes one)
//   mqtt   a QoS 1 subscription to the ingest topics (remote or clustered brokers)
// Both call the same store step of the telemetry and events services.

#include "smartproduct/ingest/module.hpp"

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "smartproduct/broker/spool.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/core/metrics.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/ingest/tailer.hpp"
#include "smartproduct/mqtt/intake.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::ingest {
namespace {

namespace fs = std::filesystem;

/// The status the plugin publishes (retained) on this topic.
constexpr const char* kSpoolStatusTopic = "$SYS/smartproduct/spool";

/// `plugin_opt_spool_dir <path>` in a mosquitto.conf, or "".
std::string spool_dir_of(const fs::path& mosquitto_conf) {
  std::ifstream in(mosquitto_conf);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "plugin_opt_spool_dir") return value;
  }
  return {};
}

class IngestModule final : public Module {
 public:
  std::string_view name() const override { return "ingest"; }

  void configure(config::Section& section, const config::DaemonConfig& core) override {
    source_ = section.one_of("source", "auto", {"auto", "spool", "mqtt"});
    fs::path dir = section.path("spool_dir", {});
    poll_ms_ = static_cast<int>(section.integer("poll_ms", 2, 1, 1000));
    shared_group_ = section.string("shared_group", "");
    if (!shared_group_.empty() &&
        (shared_group_.size() > 64 || shared_group_.find_first_of("/+#") != std::string::npos ||
         std::any_of(shared_group_.begin(), shared_group_.end(),
                     [](unsigned char c) { return c < 0x20 || c == 0x7f; }))) {
      section.error("shared_group",
                    "must be 1 to 64 characters without / + # or control characters");
    }
    if (source_ != "mqtt" && dir.empty() &&
        core.broker.mode == config::BrokerSettings::Mode::kManaged &&
        !core.broker.mosquitto_conf.empty()) {
      dir = spool_dir_of(core.broker.mosquitto_conf);
    }
    if (source_ == "auto") source_ = dir.empty() ? "mqtt" : "spool";
    // source = "mqtt" with a managed broker whose tap is on: nobody reads the spool, so prune it
    // (the same messages reach us over MQTT) or its quota would end up refusing devices.
    if (source_ == "mqtt" && core.broker.mode == config::BrokerSettings::Mode::kManaged &&
        !core.broker.mosquitto_conf.empty()) {
      prune_dir_ = spool_dir_of(core.broker.mosquitto_conf);
    }
    if (source_ == "spool" && !shared_group_.empty()) {
      section.error("shared_group",
                    "applies to source = \"mqtt\" (the spool is read by one daemon on the "
                    "broker's host)");
    }
    if (source_ == "spool" && dir.empty()) {
      section.error("spool_dir",
                    "source = \"spool\" needs spool_dir (the broker's plugin_opt_spool_dir)");
    }
    spool_dir_ = dir.string();
    section.finish();
  }

  Result<void> build(ModuleContext& ctx) override {
    telemetry_ = &ctx.services.get<telemetry::TelemetryService>();
    events_ = &ctx.services.get<events::EventService>();
    if (source_ != "spool") {
      // Telemetry on a broker connection of its own when the daemon offers one: the disk guard
      // (telemetry's intake switch) can then close it, leaving telemetry queued in that
      // connection's session, while events, shadows and commands keep flowing on the main one.
      auto* own = ctx.services.find<mqtt::OwnConnections>();
      // Shared: the daemon's connection keeps it while the telemetry module flips it.
      auto* intake = ctx.services.find<std::shared_ptr<mqtt::IntakeSwitch>>();
      if (own && intake && *intake && telemetry_->config().enabled) {
        own->add({"telemetry", ingest_filter(telemetry_->config().topic), 1,
                  [t = telemetry_](mqtt::Message&& m, mqtt::Done done) {
                    t->ingest(m.topic, m.payload, std::move(done));
                  },
                  *intake});
        telemetry_own_connection_ = true;
      }
      return {};
    }
    telemetry_positions_ = sqlite::make_spool_position_repository(ctx.store.telemetry_ptr());
    main_positions_ = sqlite::make_spool_position_repository(ctx.store.main_ptr());
    std::vector<Sink> sinks;
    if (telemetry_->config().enabled) {
      sinks.push_back(Sink{"telemetry", telemetry_->config().topic,
                           [t = telemetry_](std::string_view topic, std::string_view payload,
                                            std::function<void(bool)> done, const SpoolMark* mark) {
                             return t->ingest(topic, payload, std::move(done), mark);
                           },
                           telemetry_positions_.get(),
                           [t = telemetry_] { return t->intake_paused(); }});
    }
    if (events_->config().enabled) {
      sinks.push_back(Sink{"events",
                           events_->config().topic,
                           [e = events_](std::string_view topic, std::string_view payload,
                                         std::function<void(bool)> done, const SpoolMark* mark) {
                             return e->ingest(topic, payload, std::move(done), mark);
                           },
                           main_positions_.get(),
                           {}});
    }
    TailerOptions options;
    options.dir = spool_dir_;
    options.poll_ms = poll_ms_;
    tailer_ = std::make_unique<SpoolTailer>(options, std::move(sinks));
    return {};
  }

  void register_topics(mqtt::TopicRouter& topics) override {
    if (source_ == "spool") {
      topics.add(kSpoolStatusTopic, 1, [this](mqtt::Message&& m, mqtt::Done done) {
        auto j = nlohmann::json::parse(m.payload, nullptr, false);
        if (j.is_object() && j.contains("state") && j["state"].is_string()) {
          const auto state = j["state"].get<std::string>();
          broker_spool_state_ = state == "ok" ? 0 : state == "full" ? 1 : 2;
          if (broker_spool_state_ != 0) spdlog::warn("ingest: the broker's spool is {}", state);
        }
        done(true);
      });
      return;
    }
    if (telemetry_->config().enabled && !telemetry_own_connection_) {
      topics.add(ingest_filter(telemetry_->config().topic), 1,
                 [this](mqtt::Message&& m, mqtt::Done done) {
                   telemetry_->ingest(m.topic, m.payload, std::move(done));
                 });
    }
    if (events_->config().enabled) {
      topics.add(ingest_filter(events_->config().topic), 1,
                 [this](mqtt::Message&& m, mqtt::Done done) {
                   events_->ingest(m.topic, m.payload, std::move(done));
                 });
    }
  }

  Result<void> start() override {
    if (tailer_) {
      spdlog::info("ingest: source spool ({})", spool_dir_);
      tailer_->start();
    } else {
      spdlog::info("ingest: source mqtt");
      if (!prune_dir_.empty()) {
        spdlog::warn(
            "ingest: source mqtt, but the managed broker writes a spool to {}: deleting "
            "its finished segments (remove plugin_opt_spool_dir to save the broker the "
            "work)",
            prune_dir_);
        pruner_ = std::thread([this] { prune_loop(); });
      }
    }
    return {};
  }

  void stop() override {
    if (tailer_) tailer_->stop();
    {
      std::lock_guard lock(prune_mutex_);
      prune_stop_ = true;
    }
    prune_wake_.notify_all();
    if (pruner_.joinable()) pruner_.join();
  }

  void prune_loop() {
    std::unique_lock lock(prune_mutex_);
    while (!prune_stop_) {
      auto segs = spool::list_segments(prune_dir_);
      if (!segs.empty()) segs.pop_back();  // the newest may still be written
      for (auto n : segs) {
        std::error_code ec;
        fs::remove(fs::path(prune_dir_) / spool::segment_file_name(n), ec);
      }
      prune_wake_.wait_for(lock, std::chrono::seconds(5), [this] { return prune_stop_; });
    }
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    add_gauge(out, "smartproduct_ingest_source_spool", "1 when device ingest reads the spool",
              tailer_ ? 1.0 : 0.0);
    if (!tailer_) return;
    const auto& s = tailer_->stats();
    add_counter(out, "smartproduct_spool_records_total", "Records read from the broker spool",
                static_cast<double>(s.records.load()));
    add_counter(out, "smartproduct_spool_torn_tails_total",
                "Spool segments that ended in a torn or corrupt record (skipped)",
                static_cast<double>(s.torn_tails.load()));
    add_counter(out, "smartproduct_spool_segments_deleted_total",
                "Spool segments consumed and deleted",
                static_cast<double>(s.segments_deleted.load()));
    add_counter(out, "smartproduct_spool_resyncs_total",
                "Times the tailer resumed from the committed positions after a store failure",
                static_cast<double>(s.store_failures.load()));
    add_gauge(out, "smartproduct_spool_segment", "The spool segment being read",
              static_cast<double>(s.segment.load()));
    add_gauge(out, "smartproduct_spool_caught_up", "1 when the tailer has read every record",
              s.caught_up.load() ? 1.0 : 0.0);
    add_gauge(out, "smartproduct_spool_lag_bytes",
              "Spool bytes the broker appended that the tailer has not read yet",
              static_cast<double>(tailer_->lag_bytes()));
    add_gauge(out, "smartproduct_broker_spool_state",
              "The broker's spool as it last said: 0 ok, 1 full (publishes refused), 2 error, -1 "
              "unknown",
              static_cast<double>(broker_spool_state_.load()));
  }

 private:
  // The subscription of a device topic prefix: `<topic>/+`, or, with shared_group, the MQTT 5
  // shared subscription `$share/<group>/<topic>/+` (the broker gives each message to one member
  // of the group: several daemons split the load).
  std::string ingest_filter(const std::string& topic) const {
    return (shared_group_.empty() ? "" : "$share/" + shared_group_ + "/") + topic + "/+";
  }

  std::string source_;
  std::string shared_group_;
  std::string spool_dir_;
  int poll_ms_ = 2;
  telemetry::TelemetryService* telemetry_ = nullptr;
  events::EventService* events_ = nullptr;
  std::unique_ptr<store::SpoolPositionRepository> telemetry_positions_;
  std::unique_ptr<store::SpoolPositionRepository> main_positions_;
  std::unique_ptr<SpoolTailer> tailer_;
  std::atomic<int> broker_spool_state_{-1};
  std::string prune_dir_;
  std::thread pruner_;
  std::mutex prune_mutex_;
  std::condition_variable prune_wake_;
  bool prune_stop_ = false;
  bool telemetry_own_connection_ = false;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<IngestModule>(); }

}  // namespace sp::ingest
