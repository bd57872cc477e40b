// The live module: GET /api/ws, the console's WebSocket of live updates. Domain events from the
// bus become pushes to the users entitled to them (the hub decides who); the WebSocket transport
// is the HTTP server's (smartproduct/http/websocket.hpp). Client messages and the auth/expiry
// sweep run on this module's own thread, never on the HTTP I/O thread or the bus lane.

#include "smartproduct/live/module.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "smartproduct/alerts/service.hpp"
#include "smartproduct/commands/events.hpp"
#include "smartproduct/commands/types.hpp"
#include "smartproduct/devices/events.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/events/events.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/http/websocket.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/identity/service.hpp"
#include "smartproduct/live/hub.hpp"
#include "smartproduct/presence/types.hpp"
#include "smartproduct/shadow/events.hpp"
#include "smartproduct/shadow/types.hpp"
#include "smartproduct/telemetry/events.hpp"
#include "smartproduct/telemetry/service.hpp"

namespace sp::live {
namespace {

using nlohmann::json;

constexpr const char* kPath = "/api/ws";
constexpr std::chrono::milliseconds kTickInterval{250};

// The hub's Peer over the server's WebSocket connection.
class WsPeer final : public Peer {
 public:
  explicit WsPeer(std::shared_ptr<http::WebSocketConnection> c) : c_(std::move(c)) {}
  bool send(std::shared_ptr<const std::string> text) override { return c_->send(std::move(text)); }
  void close(std::uint16_t code, std::string reason) override {
    c_->close(code, std::move(reason));
  }

 private:
  std::shared_ptr<http::WebSocketConnection> c_;
};

// The server's WebSocketSession over the hub's Connection.
class WsSession final : public http::WebSocketSession {
 public:
  explicit WsSession(std::shared_ptr<Hub::Connection> c) : c_(std::move(c)) {}
  void on_text(std::string_view text) override { c_->on_text(text); }
  void on_closed() override { c_->on_closed(); }

 private:
  std::shared_ptr<Hub::Connection> c_;
};

// One thread: client messages in arrival order, and the hub's tick.
class Worker {
 public:
  void post(std::function<void()> work) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      queue_.push_back(std::move(work));
    }
    cv_.notify_one();
  }
  void start(std::function<void()> tick) {
    thread_ = std::thread([this, tick = std::move(tick)] { run(tick); });
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  ~Worker() { stop(); }

 private:
  void run(const std::function<void()>& tick) {
    auto next_tick = std::chrono::steady_clock::now() + kTickInterval;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      cv_.wait_until(lock, next_tick, [this] { return stopping_ || !queue_.empty(); });
      while (!queue_.empty() && !stopping_) {
        auto work = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        try {
          work();
        } catch (const std::exception& e) {
          spdlog::error("live: a client message handler threw: {}", e.what());
        }
        lock.lock();
      }
      if (std::chrono::steady_clock::now() >= next_tick) {
        lock.unlock();
        tick();
        lock.lock();
        next_tick = std::chrono::steady_clock::now() + kTickInterval;
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

class LiveModule final : public Module {
 public:
  std::string_view name() const override { return "live"; }

  void configure(config::Section& section, const config::DaemonConfig&) override {
    auto& c = config_;
    c.enabled = section.boolean("enabled", c.enabled);
    c.max_connections = static_cast<std::size_t>(section.integer(
        "max_connections", static_cast<std::int64_t>(c.max_connections), 1, 100000));
    c.max_connections_per_user = static_cast<std::size_t>(
        section.integer("max_connections_per_user",
                        static_cast<std::int64_t>(c.max_connections_per_user), 1, 1000));
    c.queue_messages = static_cast<std::size_t>(
        section.integer("queue_messages", static_cast<std::int64_t>(c.queue_messages), 1, 100000));
    c.max_message_bytes = static_cast<std::size_t>(section.integer(
        "max_message_bytes", static_cast<std::int64_t>(c.max_message_bytes), 256, 1 << 20));
    c.max_subscriptions = static_cast<std::size_t>(section.integer(
        "max_subscriptions", static_cast<std::int64_t>(c.max_subscriptions), 1, 10000));
    c.auth_timeout =
        std::chrono::seconds(section.integer("auth_timeout_s", c.auth_timeout.count(), 1, 300));
    c.idle_timeout =
        std::chrono::seconds(section.integer("idle_timeout_s", c.idle_timeout.count(), 2, 3600));
    c.close_grace = std::chrono::milliseconds(
        section.integer("close_grace_ms", c.close_grace.count(), 100, 60000));
    c.socket_send_buffer = static_cast<std::size_t>(section.integer(
        "socket_send_buffer", static_cast<std::int64_t>(c.socket_send_buffer), 0, 64 << 20));
    section.finish();
  }

  Result<void> build(ModuleContext& ctx) override {
    if (!config_.enabled) return {};
    auth_ = &ctx.services.get<const identity::Authenticator>();
    identity_ = &ctx.services.get<const identity::IdentityService>();
    auto& devices = ctx.services.get<devices::DeviceService>();
    auto* telemetry = ctx.services.find<telemetry::TelemetryService>();
    alerts_ = ctx.services.find<alerts::AlertService>();
    telemetry::TelemetryWatch* watch = telemetry ? &telemetry->watch() : nullptr;
    if (watch) watch->filter_by_device();
    clock_ = &ctx.clock;
    hub_ = std::make_unique<Hub>(
        config_, ctx.clock, [this](std::string_view token) { return authenticate(token); },
        [&devices](const std::string& device_id) { return devices.owner_of(device_id); },
        [this](std::function<void()> work) { worker_.post(std::move(work)); }, watch);

    EventBus::LaneOptions lane_options;
    lane_options.on_overflow = [this] {
      // The store is the source of truth: tell every console to reload what it shows.
      spdlog::warn("live: the bus dropped events for the live lane; asking consoles to resync");
      hub_->publish_all({{"type", "resync"}});
    };
    auto& lane = ctx.bus.lane("live", std::move(lane_options));
    lane.on<devices::DeviceRegistered>([this](const devices::DeviceRegistered& e) {
          hub_->device_registered(e.device_id, e.user_id);
        })
        .on<devices::DeviceDeleted>(
            [this](const devices::DeviceDeleted& e) { hub_->device_deleted(e.device_id); })
        .on<presence::ConnectionEvent>(
            [this](const presence::ConnectionEvent& e) { on_connection(e); })
        .on<events::EventStored>([this](const events::EventStored& e) {
          hub_->publish_device(
              e.event.device_id,
              {{"type", "event"}, {"deviceId", e.event.device_id}, {"event", e.event.to_json()}});
        })
        .on<shadow::ShadowUpdated>([this](const shadow::ShadowUpdated& e) {
          hub_->publish_device(
              e.device_id, {{"type", "shadow"},
                            {"deviceId", e.device_id},
                            {"shadow", shadow::document_json(e.current, clock_->now_ms() / 1000)}});
        })
        .on<shadow::ShadowDeleted>([this](const shadow::ShadowDeleted& e) {
          hub_->publish_device(e.device_id, {{"type", "shadowDeleted"}, {"deviceId", e.device_id}});
        })
        .on<commands::CommandUpdated>([this](const commands::CommandUpdated& e) {
          hub_->publish_device(e.command.device_id,
                               {{"type", "command"},
                                {"deviceId", e.command.device_id},
                                {"command", commands::command_to_json(e.command)}});
        })
        .on<telemetry::TelemetryStored>([this](const telemetry::TelemetryStored& e) {
          const auto& r = e.record;
          json data = json::parse(r.payload, nullptr, false);
          if (data.is_discarded()) return;
          hub_->publish_telemetry(r.device_id,
                                  {{"type", "telemetry"},
                                   {"deviceId", r.device_id},
                                   {"timestamp", r.device_ts_ms.value_or(r.received_at_ms)},
                                   {"receivedAt", r.received_at_ms},
                                   {"data", std::move(data)}});
        })
        // The new count rides along (an index-only COUNT, on this lane's thread), so the badge
        // needs no round trip; a failed count still tells the client to refetch.
        .on<events::AlertsChanged>([this](const events::AlertsChanged& e) {
          json push = {{"type", "alerts"}};
          if (alerts_) {
            if (auto n = alerts_->count(devices::Caller{e.user_id, false}))
              push["alertsCount"] = *n;
          }
          hub_->publish_user(e.user_id, std::move(push));
        });
    return {};
  }

  void register_routes(http::Router& router) override {
    // A plain GET (no Upgrade) is a client that is not a WebSocket.
    router.add("GET", kPath, [](http::Request&) {
      return http::Response::error(errors::kWebSocketUpgradeRequired);
    });
    if (!config_.enabled) return;
    http::WebSocketEndpoint endpoint;
    endpoint.limits.max_message_bytes = config_.max_message_bytes;
    endpoint.limits.queue_messages = config_.queue_messages;
    endpoint.limits.idle_timeout = config_.idle_timeout;
    endpoint.limits.close_grace = config_.close_grace;
    endpoint.limits.socket_send_buffer = config_.socket_send_buffer;
    endpoint.accept = [this](
                          std::shared_ptr<http::WebSocketConnection> connection,
                          const http::Request&) -> Result<std::shared_ptr<http::WebSocketSession>> {
      auto c = hub_->open(std::make_shared<WsPeer>(std::move(connection)));
      if (!c) return tl::unexpected(c.error());
      return std::make_shared<WsSession>(std::move(*c));
    };
    http::add_websocket(router, kPath, std::move(endpoint));
  }

  Result<void> start() override {
    if (hub_) worker_.start([this] { hub_->tick(); });
    return {};
  }

  void stop() override {
    if (!hub_) return;
    hub_->close_all(http::kCloseGoingAway, "server shutting down");
    worker_.stop();
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    if (!hub_) return;
    const auto s = hub_->stats();
    add_gauge(out, "smartproduct_live_connections", "Open live WebSocket connections",
              static_cast<double>(s.connections));
    add_gauge(out, "smartproduct_live_authenticated", "Authenticated live connections",
              static_cast<double>(s.authenticated));
    add_gauge(out, "smartproduct_live_subscriptions", "Live telemetry subscriptions",
              static_cast<double>(s.subscriptions));
    add_counter(out, "smartproduct_live_pushed_total", "Messages queued to live clients",
                static_cast<double>(s.pushed));
    add_counter(out, "smartproduct_live_refused_total",
                "Messages refused by a full client queue (that client is closed)",
                static_cast<double>(s.refused));
    add_counter(out, "smartproduct_live_rejected_auth_total",
                "Live connections closed for a bad, missing or late token",
                static_cast<double>(s.rejected_auth));
    add_counter(out, "smartproduct_live_expired_total", "Live connections closed at token expiry",
                static_cast<double>(s.expired));
    add_counter(out, "smartproduct_live_refused_connections_total",
                "Live connections refused at the connection limit",
                static_cast<double>(s.refused_connections));
    add_counter(out, "smartproduct_live_owner_lookups_total",
                "Device owner lookups that read the store (cache misses)",
                static_cast<double>(s.owner_lookups));
  }

 private:
  Result<Identity> authenticate(std::string_view token) {
    // The same checks as every REST route (signature, expiry, account enabled, token
    // generation), through a request carrying the token as its Authorization header.
    http::Request request;
    request.headers.emplace_back("authorization", "Bearer " + std::string(token));
    auto principal = auth_->authenticate(request);
    if (!principal) return tl::unexpected(principal.error());
    auto claims = identity_->authenticate(token);  // cached: the expiry of the same token
    if (!claims) return tl::unexpected(claims.error());
    return Identity{principal->user_id, principal->is_admin(), claims->expires_at * 1000};
  }

  // Connectivity as the console shows it. On a takeover the broker reports the new connection
  // before the old one's end: a disconnect older than the last connect is not news.
  void on_connection(const presence::ConnectionEvent& e) {
    using Kind = presence::ConnectionEvent::Kind;
    if (e.kind == Kind::kRejected) return;
    auto& last = last_connect_[e.device_id];
    if (e.kind == Kind::kConnected) {
      last = {e.broker_epoch, e.conn_seq};
    } else if (e.broker_epoch == last.first && e.conn_seq < last.second) {
      return;
    }
    hub_->publish_device(e.device_id, {{"type", "connectivity"},
                                       {"deviceId", e.device_id},
                                       {"connected", e.kind == Kind::kConnected},
                                       {"timestamp", e.at_ms}});
  }

  LiveConfig config_;
  const identity::Authenticator* auth_ = nullptr;
  const identity::IdentityService* identity_ = nullptr;
  alerts::AlertService* alerts_ = nullptr;  // absent when the alerts module is not built
  const Clock* clock_ = nullptr;
  std::unique_ptr<Hub> hub_;
  Worker worker_;
  // The live lane's thread only.
  std::unordered_map<std::string, std::pair<std::int64_t, std::int64_t>> last_connect_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<LiveModule>(); }

}  // namespace sp::live
