#include "app/daemon.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>

#include "app/broker_supervisor.hpp"
#include "app/first_run.hpp"
#include "app/metrics.hpp"
#include "net/http/server.hpp"
#include "net/mqtt/client.hpp"
#include "smartproduct/api/openapi.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/core/histogram.hpp"
#include "smartproduct/core/logging.hpp"
#include "smartproduct/core/readiness.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/limits.hpp"
#include "smartproduct/identity/mailer.hpp"
#include "smartproduct/identity/service.hpp"
#include "smartproduct/mqtt/events.hpp"
#include "smartproduct/mqtt/intake.hpp"
#include "smartproduct/pki/events.hpp"
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

struct Daemon::Impl {
  config::DaemonConfig config;
  std::vector<std::unique_ptr<Module>> modules;  // the module list, in dependency order
  SystemClock clock;
  EventBus bus;
  ServiceRegistry services;
  ReadinessProbes readiness_probes;  // modules' /readyz reasons
  std::unique_ptr<sqlite::Store> store;
  std::unique_ptr<BrokerSupervisor> broker;
  std::unique_ptr<mqtt::Client> mqtt;
  // Ingest paths with a broker connection of their own (smartproduct/mqtt/intake.hpp).
  mqtt::OwnConnections own_connections;
  std::vector<std::unique_ptr<mqtt::Client>> own_mqtt;
  mqtt::TopicRouter topics;
  http::Router router;
  // [http] public_*: the console's files and the OpenAPI document (before `server`, which uses it).
  std::unique_ptr<identity::RequestLimiter> public_limiter;
  std::unique_ptr<http::HttpServer> server;
  std::size_t built = 0;  // modules built (and so to be stopped)

  Impl(config::DaemonConfig c, std::vector<std::unique_ptr<Module>> m)
      : config(std::move(c)), modules(std::move(m)) {}

  fs::path web_root() const {
    if (!config.web_root.empty()) return config.web_root;
    // Installed (the Debian package): /usr/bin/smartproductd next to /usr/share/smartproduct/web.
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      auto installed = exe.parent_path().parent_path() / "share" / "smartproduct" / "web";
      if (fs::is_directory(installed, ec)) return installed;
    }
    return fs::path(SP_DEFAULT_WEB_ROOT);  // the console built with this binary (source tree)
  }

  std::vector<std::string> readiness() {
    std::vector<std::string> reasons;
    if (!store || !store->healthy()) reasons.push_back("database: not open or not writable");
    if (!mqtt || !mqtt->connected()) {
      reasons.push_back("broker: " + (mqtt ? mqtt->status() : std::string("client not started")));
    }
    readiness_probes.report(reasons);
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

    // Modules are built before the broker starts: a module may refuse a broker config that does
    // not match its own (the JITR activation gate).
    if (auto r = build_modules(); !r) return r;

    const auto& b = config.broker;
    if (b.mode == config::BrokerSettings::Mode::kManaged) {
      broker = std::make_unique<BrokerSupervisor>(BrokerSupervisorConfig{
          b.mosquitto_bin, b.mosquitto_conf, b.host, b.port, b.ca_file, b.cert, b.key});
      if (auto r = broker->start(20s); !r) {
        broker.reset();
        return fail(r.error().kind, r.error().name, "[broker] managed: " + r.error().message);
      }
    }

    // A CA taken out of the capath stays trusted by mosquitto's TLS store until the broker exits
    // (2.0.11 re-reads no CA on SIGHUP): restart a managed broker; ask for it otherwise. The
    // plugin refuses the CA's devices meanwhile (it re-reads the capath on the state sync).
    bus.lane("broker-trust").on<pki::CaUntrusted>([this](const pki::CaUntrusted& e) {
      if (broker) {
        spdlog::info("broker: CA {} left the capath: restarting the managed broker", e.ca_id);
        broker->restart();
      } else {
        spdlog::warn(
            "broker: CA {} left the capath: restart mosquitto so that TLS forgets it too (until "
            "then the plugin refuses its devices)",
            e.ca_id);
      }
    });
    bus.start();
    for (auto& module : modules) {
      if (auto r = module->start(); !r) {
        return fail(r.error().kind, r.error().name,
                    fmt::format("module {}: {}", module->name(), r.error().message));
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
    for (auto& [filter, qos] : topics.subscriptions()) {
      // No-local: the daemon never receives its own publishes (commands, control requests).
      // Not on a shared subscription, where MQTT 5 makes it a protocol error (§3.8.3.1); the
      // daemon publishes nothing on the ingest topics it shares.
      const auto shared = mqtt::shared_subscription_filter(filter);
      mc.subscriptions.push_back({filter, qos, !shared});
      // A session that subscribed before [ingest] shared_group was set holds the plain filter:
      // drop it, or this daemon would also get every message of the group.
      if (shared) mc.unsubscribe.emplace_back(*shared);
    }
    // A session created by an older version still holds the filters that now have a connection
    // of their own: drop them, and route what was already queued there to its handler (stored,
    // deduplicated) instead of acknowledging it unrouted.
    for (const auto& own : own_connections.entries()) mc.unsubscribe.push_back(own.filter);
    mqtt = std::make_unique<mqtt::Client>(mc, [this](mqtt::Message&& m, mqtt::Done done) {
      for (const auto& own : own_connections.entries()) {
        if (mqtt::topic_matches(own.filter, m.topic)) return own.handler(std::move(m), done);
      }
      topics.dispatch(std::move(m), done);
    });
    mqtt->on_connection_change([this](bool connected, bool session_present) {
      if (connected) bus.publish(mqtt::BrokerConnected{session_present});
    });
    mqtt->start();
    for (const auto& own : own_connections.entries()) {
      mqtt::ClientConfig oc = mc;
      oc.client_id = b.client_id + "-" + own.name;
      const auto shared = mqtt::shared_subscription_filter(own.filter);
      oc.subscriptions = {{own.filter, own.qos, !shared}};
      oc.unsubscribe.clear();
      if (shared) oc.unsubscribe.emplace_back(*shared);
      auto client = std::make_unique<mqtt::Client>(
          oc, [handler = own.handler](mqtt::Message&& m, mqtt::Done done) {
            handler(std::move(m), std::move(done));
          });
      if (own.intake) {
        // Listener first, then the current state: a change in between is not missed.
        own.intake->on_change([c = client.get()](bool paused) { c->set_paused(paused); });
        client->set_paused(own.intake->paused());
      }
      client->start();
      own_mqtt.push_back(std::move(client));
    }

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
    const auto& h = config.http;
    public_limiter = std::make_unique<identity::RequestLimiter>(
        identity::RateLimit{h.public_rate_per_address_per_min / 60.0,
                            static_cast<double>(h.public_burst_per_address)},
        identity::RateLimit{h.public_rate_global_per_min / 60.0,
                            static_cast<double>(h.public_burst_global)});
    sc.public_admission = [limiter = public_limiter.get()](const http::Request& request) {
      const double now_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
              .count();
      return limiter->admit(identity::address_key(request.remote_address), now_s);
    };
    server = std::make_unique<http::HttpServer>(sc, router, [this] { return readiness(); });
    if (auto r = server->start(); !r) {
      return fail(
          r.error().kind, r.error().name,
          fmt::format("[http] {}:{}: {}", config.http.listen, config.http.port, r.error().message));
    }
    std::string host = config.http.listen == "0.0.0.0" || config.http.listen == "::"
                           ? "localhost"
                           : config.http.listen;
    const std::string console_url = fmt::format("https://{}:{}/", host, server->port());
    spdlog::info("smartproductd {} ready: console {} (host {})", SP_VERSION, console_url,
                 host_name());
    log_first_run_hint(console_url);
    return {};
  }

  // An instance without any account is met by a newcomer: say how to get in (./dev.sh run shows
  // the log on the terminal, the packaged service in the journal).
  void log_first_run_hint(const std::string& console_url) {
    auto users = sqlite::make_user_repository(store->main_ptr());
    auto first = users.accounts->list_users(1, std::nullopt);
    if (!first || !first->items.empty()) return;
    FirstRunFacts facts;
    facts.console_url = console_url;
    std::error_code ec;
    facts.config_file = fs::absolute(config.file, ec);
    if (ec) facts.config_file = config.file;
    if (const auto* mail = services.find<const identity::MailerConfig>()) {
      facts.codes_in_log = mail->smtp_url.empty();
    }
    facts.ctl = ctl_next_to(fs::read_symlink("/proc/self/exe", ec));
    facts.service_user = systemd_service_user();
    for (const auto& line : first_run_hint(facts)) spdlog::info("{}", line);
  }

  // Builds every module in list order, then lets each register its routes and topics.
  Result<void> build_modules() {
    services.provide(own_connections);
    services.provide(readiness_probes);
    ModuleContext ctx{config, *store, clock, bus, *publisher(), services};
    for (auto& module : modules) {
      Result<void> r;
      try {
        r = module->build(ctx);
      } catch (const std::exception& e) {  // a module list in the wrong order, a bad config
        r = fail(ErrorKind::kInternal, "ModuleBuildFailed", e.what());
      }
      if (!r) {
        return fail(r.error().kind, r.error().name,
                    fmt::format("module {}: {}", module->name(), r.error().message));
      }
      ++built;
    }
    for (auto& module : modules) {
      module->register_routes(router);
      module->register_topics(topics);
    }
    api::add_openapi_route(router);
    add_metrics_route(
        router,
        {[this](std::vector<MetricSample>& out) { core_metrics(out); }, report_process_metrics},
        config.metrics);
    return {};
  }

  void core_metrics(std::vector<MetricSample>& out) {
    for (std::size_t i = 0; i < built; ++i) modules[i]->report_metrics(out);
    if (server) server->report_metrics(out);
    if (mqtt) mqtt_metrics(out, *mqtt, "main");
    for (std::size_t i = 0; i < own_mqtt.size() && i < own_connections.entries().size(); ++i) {
      mqtt_metrics(out, *own_mqtt[i], own_connections.entries()[i].name);
    }
    for (const auto* lane : bus.lanes()) {
      auto s = lane->stats();
      const std::string l = fmt::format("lane=\"{}\"", lane->name());
      add_counter(out, "smartproduct_bus_delivered_total", "Domain events delivered, by lane",
                  static_cast<double>(s.delivered), l);
      add_counter(out, "smartproduct_bus_dropped_total",
                  "Domain events dropped because the lane was full", static_cast<double>(s.dropped),
                  l);
      add_counter(out, "smartproduct_bus_failures_total", "Domain event handlers that threw",
                  static_cast<double>(s.failed), l);
      add_gauge(out, "smartproduct_bus_queued", "Domain events waiting, by lane",
                static_cast<double>(s.queued), l);
    }
    if (store) {
      for (auto [name, db] :
           {std::pair{"main", &store->main()}, std::pair{"telemetry", &store->telemetry()}}) {
        auto s = db->stats();
        const std::string l = fmt::format("db=\"{}\"", name);
        add_counter(out, "smartproduct_db_transactions_total", "Committed write transactions",
                    static_cast<double>(s.transactions_committed), l);
        add_gauge(out, "smartproduct_db_write_queue_jobs",
                  "Write jobs queued for the store writer (not yet in a batch)",
                  static_cast<double>(s.queue_depth), l);
        add_histogram(out, "smartproduct_db_batch_commit_duration_seconds",
                      "Store writer batches: BEGIN IMMEDIATE to COMMIT returned (ingest "
                      "acknowledgements wait for it)",
                      db->commit_duration(), l);
        for (auto [file, suffix] : {std::pair{"db", ""}, std::pair{"wal", "-wal"}}) {
          std::error_code ec;
          const auto size = fs::file_size(db->path().string() + suffix, ec);
          add_gauge(out, "smartproduct_db_file_size_bytes", "Size of a database file, by file",
                    ec ? 0.0 : static_cast<double>(size), fmt::format("{},file=\"{}\"", l, file));
        }
      }
    }
  }

  static void mqtt_metrics(std::vector<MetricSample>& out, mqtt::Client& client,
                           std::string_view connection) {
    const auto s = client.stats();
    const std::string l = fmt::format("connection=\"{}\"", connection);
    add_gauge(out, "smartproduct_mqtt_connected", "1 when connected to the broker",
              client.connected() ? 1.0 : 0.0, l);
    add_counter(out, "smartproduct_mqtt_connects_total", "Successful broker connections",
                static_cast<double>(s.connects), l);
    add_counter(out, "smartproduct_mqtt_reconnects_total",
                "Broker connections after the first (the client reconnected)",
                static_cast<double>(s.connects > 0 ? s.connects - 1 : 0), l);
    add_counter(out, "smartproduct_mqtt_connection_losses_total", "Broker connections lost",
                static_cast<double>(s.connection_losses), l);
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
    for (std::size_t i = 0; i < built; ++i) modules[i]->reload();
  }

  void stop() {
    // Order: stop taking new work (HTTP), let MQTT finish acknowledging what is committed, deliver
    // the domain events already published, stop the modules (reverse order) while the store is
    // still open, drain the writer, then stop the broker we manage.
    if (server) server->stop(10s);
    for (auto& c : own_mqtt) c->stop(10s);
    if (mqtt) mqtt->stop(10s);
    bus.stop();
    readiness_probes.clear();  // they refer to the modules
    for (std::size_t i = built; i-- > 0;) modules[i]->stop();
    if (store) store->close();
    if (broker) broker->stop();
    server.reset();
    for (const auto& own : own_connections.entries()) {
      if (own.intake) own.intake->on_change({});
    }
    own_mqtt.clear();
    mqtt.reset();
    broker.reset();
    while (!modules.empty()) modules.pop_back();  // reverse order of construction
    built = 0;
  }
};

Daemon::Daemon(config::DaemonConfig config, std::vector<std::unique_ptr<Module>> modules)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(modules))) {}
Daemon::~Daemon() = default;
Result<void> Daemon::start() { return impl_->start(); }
void Daemon::reload() { impl_->reload(); }
void Daemon::stop() { impl_->stop(); }
std::vector<std::string> Daemon::readiness() const { return impl_->readiness(); }

}  // namespace sp::app
