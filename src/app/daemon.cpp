#include "app/daemon.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>

#include "app/access.hpp"
#include "app/broker_supervisor.hpp"
#include "app/ca_module.hpp"
#include "app/devices_module.hpp"
#include "app/metrics.hpp"
#include "net/http/server.hpp"
#include "net/mqtt/client.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/logging.hpp"
#include "smartproduct/devices/routes.hpp"
#include "smartproduct/events/service.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/jitr/service.hpp"
#include "smartproduct/presence/service.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::app {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

Result<void> require_readable(const fs::path& file, const char* key) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return fail(ErrorKind::kUnavailable, "ConfigFileMissing",
                fmt::format("{}: {} does not exist or is not a file", key, file.string()));
  }
  if (access(file.c_str(), R_OK) != 0) {
    return fail(ErrorKind::kUnavailable, "ConfigFileUnreadable",
                fmt::format("{}: {} is not readable", key, file.string()));
  }
  return {};
}

}  // namespace

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

}  // namespace

struct Daemon::Impl {
  config::DaemonConfig config;
  SystemClock clock;
  std::unique_ptr<sqlite::Store> store;
  std::unique_ptr<BrokerSupervisor> broker;
  std::unique_ptr<mqtt::Client> mqtt;
  mqtt::TopicRouter topics;
  http::Router router;

  // Repositories and modules (in dependency order: destroyed in reverse).
  std::unique_ptr<store::TelemetryRepository> telemetry_repo;
  std::unique_ptr<store::EventRepository> event_repo;
  std::unique_ptr<store::PresenceRepository> presence_repo;
  std::unique_ptr<telemetry::TelemetryService> telemetry;
  std::unique_ptr<events::EventService> events;
  std::unique_ptr<presence::PresenceService> presence;
  std::unique_ptr<Access>
      access_modules;     // identity, settings, OpenAPI (before the server: it routes)
  CaModule cas;           // registered device CAs (/api/admin/cas)
  DevicesModule devices;  // registration and devices API (before events: it owns the devices)
  std::unique_ptr<jitr::PluginControl> plugin_control;
  std::unique_ptr<jitr::JitrService> jitr;  // activation of device certificates
  std::unique_ptr<http::HttpServer> server;

  explicit Impl(config::DaemonConfig c) : config(std::move(c)) {}

  fs::path web_root() const {
    if (!config.web_root.empty()) return config.web_root;
    return fs::path(SP_DEFAULT_WEB_ROOT);
  }

  std::vector<std::string> readiness() {
    std::vector<std::string> reasons;
    if (!store || !store->healthy()) reasons.push_back("database: not open or not writable");
    if (!mqtt || !mqtt->connected()) {
      reasons.push_back("broker: " + (mqtt ? mqtt->status() : std::string("client not started")));
    }
    return reasons;
  }

  Result<void> check_files() {
    const auto& b = config.broker;
    using Entry = std::pair<const fs::path*, const char*>;
    for (auto [file, key] :
         {Entry{&config.http.cert, "[http] cert"}, Entry{&config.http.key, "[http] key"},
          Entry{&b.ca_file, "[broker] ca_file"}, Entry{&b.cert, "[broker] cert"},
          Entry{&b.key, "[broker] key"}}) {
      if (auto r = require_readable(*file, key); !r) return r;
    }
    return {};
  }

  Result<void> start() {
    if (auto r = check_files(); !r) return r;

    auto opened = sqlite::open_store(sqlite::StoreConfig{
        config.storage.data_dir, config.storage.busy_timeout_ms,
        static_cast<std::size_t>(config.storage.write_batch_max), sqlite::Synchronous::kFull});
    if (!opened) return tl::unexpected(opened.error());
    store = std::move(*opened);
    spdlog::info("store: {} opened (instance {})", config.storage.data_dir.string(),
                 store->instance_id());

    const auto& b = config.broker;
    if (b.mode == config::BrokerSettings::Mode::kManaged) {
      if (auto r = check_activation_gate(b.mosquitto_conf, config.jitr.enabled); !r) return r;
      broker = std::make_unique<BrokerSupervisor>(BrokerSupervisorConfig{
          b.mosquitto_bin, b.mosquitto_conf, b.host, b.port, b.ca_file, b.cert, b.key});
      if (auto r = broker->start(20s); !r) {
        broker.reset();
        return fail(r.error().kind, r.error().name, "[broker] managed: " + r.error().message);
      }
    }

    mqtt::ClientConfig mc;
    mc.host = b.host;
    mc.port = b.port;
    mc.ca_file = b.ca_file;
    mc.cert = b.cert;
    mc.key = b.key;
    mc.client_id = b.client_id;
    mc.keepalive_s = b.keepalive_s;
    mc.session_expiry_s = b.session_expiry_s;
    if (auto a = Access::create(config, store->main_ptr(), router); a) {
      access_modules = std::move(*a);
    } else {
      return tl::unexpected(a.error());
    }
    if (auto r = build_modules(); !r) return r;
    for (auto& route : topics.routes()) {
      // No-local: the daemon never receives its own publishes (commands, control requests).
      mc.subscriptions.push_back({route.filter, route.qos, true});
    }
    mqtt = std::make_unique<mqtt::Client>(
        mc, [this](mqtt::Message&& m, mqtt::Done done) { topics.dispatch(std::move(m), done); });
    mqtt->on_connection_change([this](bool connected, bool session_present) {
      // Without our session the broker forgot the presence events we missed: ask for the truth.
      if (connected && !session_present && presence) presence->request_resync();
      // The plugin may have missed commands while we were away (or smartproductctl changed the
      // store): every new connection gets the whole state first.
      if (connected && jitr) jitr->on_broker_connected();
    });
    mqtt->start();
    add_metrics_route(router, metrics_sources());

    http::ServerConfig sc;
    sc.listen = config.http.listen;
    sc.port = config.http.port;
    sc.cert = config.http.cert;
    sc.key = config.http.key;
    sc.max_body_bytes = config.http.max_body_bytes;
    sc.max_header_bytes = config.http.max_header_bytes;
    sc.read_timeout = config.http.read_timeout;
    sc.idle_timeout = config.http.idle_timeout;
    sc.max_connections = config.http.max_connections;
    sc.worker_threads = config.http.worker_threads;
    sc.web_root = web_root();
    sc.console_enabled = config.console_enabled;
    sc.api_enabled = config.api_enabled;
    server = std::make_unique<http::HttpServer>(sc, router, [this] { return readiness(); });
    if (auto r = server->start(); !r) {
      return fail(
          r.error().kind, r.error().name,
          fmt::format("[http] {}:{}: {}", config.http.listen, config.http.port, r.error().message));
    }
    std::string host = config.http.listen == "0.0.0.0" || config.http.listen == "::"
                           ? "localhost"
                           : config.http.listen;
    spdlog::info("smartproductd {} ready: console https://{}:{}/ (host {})", SP_VERSION, host,
                 server->port(), host_name());
    return {};
  }

  // The module list: each module gets its repository, typed settings and its MQTT/HTTP bindings.
  Result<void> build_modules() {
    telemetry_repo = sqlite::make_telemetry_repository(store->telemetry_ptr());
    event_repo = sqlite::make_event_repository(store->main_ptr());
    presence_repo = sqlite::make_presence_repository(store->main_ptr());
    // The CA and devices modules reach the broker through JITR (built right after them: the hooks
    // run only once requests flow).
    pki::CaHooks ca_hooks{[this](const std::string& id) { jitr->on_ca_disabled(id); },
                          [this](const std::string& id) { jitr->on_ca_enabled(id); }};
    if (auto c = build_ca_module(store->main_ptr(), *access_modules, clock, router, config.jitr,
                                 std::move(ca_hooks));
        c) {
      cas = std::move(*c);
    } else {
      return tl::unexpected(c.error());
    }
    devices::DeviceHooks device_hooks{
        [this](const devices::Registration& r) { jitr->on_registered(r.device_id); },
        [this](const std::vector<std::string>& fps) { jitr->on_certificates_revoked(fps); },
        [this](const devices::Registration& r) { jitr->on_deleted(r.device_id); }};
    if (auto d = build_devices_module(store->main_ptr(), *access_modules, clock, router,
                                      std::move(device_hooks));
        d) {
      devices = std::move(*d);
    } else {
      return tl::unexpected(d.error());
    }
    {
      // The broker's trust anchor is the platform root the daemon itself trusts for it.
      std::ifstream ca(config.broker.ca_file);
      std::string root_ca((std::istreambuf_iterator<char>(ca)), std::istreambuf_iterator<char>());
      devices::add_connection_info_route(
          router,
          devices::ConnectionInfo{
              config.broker.public_host,
              config.broker.public_port ? config.broker.public_port : config.broker.port,
              std::move(root_ca), config.telemetry.topic, config.events.topic},
          access_modules->authenticator());
    }
    plugin_control = std::make_unique<jitr::PluginControl>(*publisher());
    jitr::JitrConfig jc;
    jc.enabled = config.jitr.enabled;
    jc.security_event_interval = std::chrono::seconds(config.jitr.security_event_interval_s);
    jitr = std::make_unique<jitr::JitrService>(*devices.repo, *cas.repo, access_modules->catalog(),
                                               *plugin_control, clock, jc);
    jitr->reconcile();

    if (config.telemetry.enabled) {
      telemetry = std::make_unique<telemetry::TelemetryService>(
          telemetry::IngestConfig{config.telemetry.topic, config.telemetry.max_payload_bytes},
          *telemetry_repo, clock);
      topics.add(config.telemetry.topic + "/+", 1, [this](mqtt::Message&& m, mqtt::Done done) {
        telemetry->ingest(m.topic, m.payload, std::move(done));
      });
    }
    if (config.events.enabled) {
      events = std::make_unique<events::EventService>(
          events::IngestConfig{config.events.topic, config.events.max_payload_bytes}, *event_repo,
          clock,
          [this](const std::string& device_id) { return devices.service->owner_of(device_id); });
      topics.add(config.events.topic + "/+", 1, [this](mqtt::Message&& m, mqtt::Done done) {
        events->ingest(m.topic, m.payload, std::move(done));
      });
    }
    presence = std::make_unique<presence::PresenceService>(*presence_repo, *publisher(), clock,
                                                           std::set<std::string>{"svc-backend"});
    presence->set_observer([this](const presence::ConnectionEvent& e) { jitr->on_presence(e); });
    topics.add(std::string(presence::kPresencePrefix) + "#", 1,
               [this](mqtt::Message&& m, mqtt::Done done) {
                 presence->on_presence(m.topic, m.payload, std::move(done));
               });
    topics.add(std::string(presence::kControlResponseTopic), 1,
               [this](mqtt::Message&& m, mqtt::Done done) {
                 plugin_control->on_control_response(m.payload);
                 presence->on_control_response(m.payload, std::move(done));
               });
    return {};
  }

  std::vector<MetricsSource> metrics_sources() {
    std::vector<MetricsSource> sources;
    auto ingest = [](const char* path, const IngestCounters* c) {
      return [path, c](std::vector<MetricSample>& out) {
        if (!c) return;
        std::string l = fmt::format("path=\"{}\"", path);
        auto add = [&](const char* name, const char* help, uint64_t v, std::string labels) {
          out.push_back({name, std::move(labels), help, "counter", static_cast<double>(v)});
        };
        add("smartproduct_ingest_received_total", "Device messages received", c->received, l);
        add("smartproduct_ingest_stored_total", "Device messages committed", c->stored, l);
        add("smartproduct_ingest_duplicates_total", "Redeliveries recognised and skipped",
            c->duplicates, l);
        add("smartproduct_ingest_store_failures_total", "Messages that could not be stored",
            c->store_failures, l);
        const char* kRejected = "smartproduct_ingest_rejected_total";
        const char* kHelp = "Device messages refused, by reason";
        add(kRejected, kHelp, c->rejected_bad_topic, l + ",reason=\"bad_topic\"");
        add(kRejected, kHelp, c->rejected_oversize, l + ",reason=\"oversize\"");
        add(kRejected, kHelp, c->rejected_malformed, l + ",reason=\"malformed_json\"");
        add(kRejected, kHelp, c->rejected_not_object, l + ",reason=\"not_an_object\"");
        add(kRejected, kHelp, c->rejected_foreign_device, l + ",reason=\"foreign_device\"");
        add(kRejected, kHelp, c->rejected_invalid, l + ",reason=\"invalid_field\"");
      };
    };
    sources.push_back(ingest("telemetry", telemetry ? &telemetry->counters() : nullptr));
    sources.push_back(ingest("events", events ? &events->counters() : nullptr));
    sources.push_back([this](std::vector<MetricSample>& out) {
      if (mqtt) {
        auto s = mqtt->stats();
        out.push_back({"smartproduct_mqtt_connected", "", "1 when connected to the broker", "gauge",
                       mqtt->connected() ? 1.0 : 0.0});
        out.push_back({"smartproduct_mqtt_connects_total", "", "Successful broker connections",
                       "counter", static_cast<double>(s.connects)});
        out.push_back({"smartproduct_mqtt_connection_losses_total", "", "Broker connections lost",
                       "counter", static_cast<double>(s.connection_losses)});
      }
      if (jitr) {
        auto& c = jitr->counters();
        auto add = [&](const char* name, const char* help, uint64_t v) {
          out.push_back({name, "", help, "counter", static_cast<double>(v)});
        };
        add("smartproduct_jitr_evaluated_total", "Device certificate connections evaluated",
            c.evaluated);
        add("smartproduct_jitr_activated_total", "Device certificates activated", c.activated);
        add("smartproduct_jitr_pending_total", "Certificates waiting for their registration",
            c.pending);
        add("smartproduct_jitr_refused_total", "Certificates refused", c.refused);
        add("smartproduct_security_events_total", "Security events recorded", c.security_events);
        add("smartproduct_jitr_failures_total", "JITR steps that failed (store errors)",
            c.failures);
      }
      if (presence) {
        auto& c = presence->counters();
        out.push_back({"smartproduct_presence_events_total", "", "Presence events from the broker",
                       "counter", static_cast<double>(c.events.load())});
        out.push_back({"smartproduct_presence_broker_restarts_total", "", "New broker epochs seen",
                       "counter", static_cast<double>(c.broker_restarts.load())});
        if (auto n = presence_repo->connected_count()) {
          out.push_back({"smartproduct_devices_connected", "", "Devices connected now", "gauge",
                         static_cast<double>(*n)});
        }
      }
      if (store) {
        for (auto [name, db] :
             {std::pair{"main", &store->main()}, std::pair{"telemetry", &store->telemetry()}}) {
          auto s = db->stats();
          std::string l = fmt::format("db=\"{}\"", name);
          out.push_back({"smartproduct_db_transactions_total", l, "Committed write transactions",
                         "counter", static_cast<double>(s.transactions_committed)});
        }
      }
    });
    return sources;
  }

  // Modules publish through this; it forwards to whichever MQTT client is current.
  struct ForwardingPublisher final : mqtt::Publisher {
    Impl* self;
    explicit ForwardingPublisher(Impl* s) : self(s) {}
    void publish(std::string topic, std::string payload, int qos, bool retain) override {
      if (self->mqtt) self->mqtt->publish(std::move(topic), std::move(payload), qos, retain);
    }
  };
  std::unique_ptr<ForwardingPublisher> forwarding_publisher;
  mqtt::Publisher* publisher() {
    if (!forwarding_publisher) forwarding_publisher = std::make_unique<ForwardingPublisher>(this);
    return forwarding_publisher.get();
  }

  void reload() {
    auto reloaded = config::reload_log_settings(config.file, config);
    if (reloaded.config) {
      config.log = reloaded.config->log;
      logging::set_level(config.log.level);
      spdlog::info("reload: log level {}", config.log.level);
    } else {
      for (auto& e : reloaded.errors) spdlog::error("reload: {}", e);
    }
    if (server) {
      if (auto r = server->reload_certificates(); !r) {
        spdlog::error("reload: HTTPS certificate kept: {}", r.error().message);
      } else {
        spdlog::info("reload: HTTPS certificate reloaded");
      }
    }
    if (broker) broker->reload();
    if (access_modules) access_modules->reload();
  }

  void stop() {
    // Order: stop taking new work (HTTP), let MQTT finish acknowledging what is committed, drain
    // the writer, then stop the broker we manage.
    if (server) server->stop(10s);
    if (mqtt) mqtt->stop(10s);
    jitr.reset();  // finishes queued work while the store is still open
    if (store) store->close();
    if (broker) broker->stop();
    server.reset();
    mqtt.reset();
    broker.reset();
    presence.reset();
    events.reset();
    telemetry.reset();
  }
};

Daemon::Daemon(config::DaemonConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Daemon::~Daemon() = default;
Result<void> Daemon::start() { return impl_->start(); }
void Daemon::reload() { impl_->reload(); }
void Daemon::stop() { impl_->stop(); }

}  // namespace sp::app
