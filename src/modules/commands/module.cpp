// The commands module: seed routes 14-16 (POST/GET /api/devices/{id}/commands[/{commandId}]), the
// device's replies on smartproduct/commands/<sn>/response (and, for the seed's devices, on
// smartproduct/commands/<sn> itself), the timeout sweep and the resend on reconnect.
// The device id always comes from the topic (the broker binds it to the certificate) or the route.

#include "smartproduct/commands/module.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "smartproduct/commands/service.hpp"
#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/keyed_workers.hpp"
#include "smartproduct/devices/events.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/http/paging.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/presence/types.hpp"
#include "smartproduct/shadow/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::commands {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// Replies are small writes; two threads keep one slow device from delaying the others.
constexpr std::size_t kWorkerThreads = 2;
// How often the sweep looks for expired commands and due resends.
constexpr std::chrono::milliseconds kTickInterval{250};
constexpr std::string_view kResponseSuffix = "/response";
constexpr std::size_t kMaxReplyBytes = 16384;

// A page of a device's commands resumes after {"t": created_at_ms, "s": seq}.
std::optional<CommandKey> command_key(const json& key) {
  const auto t = key.find("t");
  const auto s = key.find("s");
  if (t == key.end() || s == key.end() || !t->is_number_integer() || !s->is_number_integer()) {
    return std::nullopt;
  }
  return CommandKey{t->get<std::int64_t>(), s->get<std::int64_t>()};
}

class CommandsModule final : public Module {
 public:
  std::string_view name() const override { return "commands"; }

  void configure(config::Section& section, const config::DaemonConfig&) override {
    settings_.timeout_s = section.integer("timeout_s", settings_.timeout_s, 1, 30 * 86400);
    settings_.max_ttl_s = section.integer("max_ttl_s", settings_.max_ttl_s, 1, 30 * 86400);
    section.finish();
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    devices_ = &ctx.services.get<devices::DeviceService>();
    const auto& shadows = ctx.services.get<shadow::ShadowService>();
    repo_ = sqlite::make_command_repository(ctx.store.main_ptr());
    service_ = std::make_unique<CommandService>(*repo_, ctx.clock, ctx.bus, ctx.publisher,
                                                settings_, shadows.limits());
    workers_ = std::make_unique<KeyedWorkers>("commands", kWorkerThreads);
    ctx.services.provide(*service_);
    ctx.bus.lane("commands")
        .on<presence::ConnectionEvent>([this](const presence::ConnectionEvent& e) {
          if (e.kind == presence::ConnectionEvent::Kind::kConnected) {
            service_->on_connected(e.device_id);
          }
        })
        .on<devices::DeviceDeleted>(
            [this](const devices::DeviceDeleted& e) { service_->on_device_deleted(e.device_id); });
    return {};
  }

  void register_routes(http::Router& router) override {
    router.add("POST", "/api/devices/{deviceId}/commands",
               auth_->protect(
                   [this](Request& req, const identity::Principal& p) { return create(req, p); }));
    router.add("GET", "/api/devices/{deviceId}/commands",
               auth_->protect(
                   [this](Request& req, const identity::Principal& p) { return list(req, p); }));
    router.add("GET", "/api/devices/{deviceId}/commands/{commandId}",
               auth_->protect(
                   [this](Request& req, const identity::Principal& p) { return get_one(req, p); }));
  }

  void register_topics(mqtt::TopicRouter& topics) override {
    // The daemon subscribes with "no local", so its own command messages do not come back; the
    // service ignores them anyway (status "pending").
    for (std::string suffix : {"", "/response"}) {
      topics.add(settings_.topic + "/+" + suffix, 1, [this](mqtt::Message&& m, mqtt::Done done) {
        on_device_message(std::move(m), std::move(done));
      });
    }
  }

  Result<void> start() override {
    stopping_ = false;
    sweeper_ = std::thread([this] { sweep_loop(); });
    return {};
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
    if (workers_) workers_->stop();
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    const auto s = service_->stats();
    const char* help = "Commands by what happened to them";
    add_counter(out, "smartproduct_commands_total", help, static_cast<double>(s.created),
                "event=\"created\"");
    add_counter(out, "smartproduct_commands_total", help, static_cast<double>(s.expired),
                "event=\"timeout\"");
    add_counter(out, "smartproduct_commands_total", help, static_cast<double>(s.superseded),
                "event=\"superseded\"");
    add_counter(out, "smartproduct_commands_total", help, static_cast<double>(s.resent),
                "event=\"resent\"");
    for (std::size_t i = 0; i < replies_.size(); ++i) {
      add_counter(out, "smartproduct_command_replies_total",
                  "Messages from devices on their command topics, by result",
                  static_cast<double>(replies_[i].load()),
                  "result=\"" + std::string(to_string(static_cast<ReplyResult>(i))) + "\"");
    }
  }

 private:
  void sweep_loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      try {
        service_->tick();
      } catch (const std::exception& e) {
        spdlog::error("commands: sweep failed: {}", e.what());
      }
      lock.lock();
      wake_.wait_for(lock, kTickInterval, [this] { return stopping_; });
    }
  }

  void count(ReplyResult r) { ++replies_[static_cast<std::size_t>(r)]; }

  void on_device_message(mqtt::Message&& m, mqtt::Done done) {
    std::string_view topic = m.topic;
    if (topic.ends_with(kResponseSuffix)) topic.remove_suffix(kResponseSuffix.size());
    auto parsed = parse_device_message(settings_.topic, topic, m.payload, kMaxReplyBytes);
    if (!parsed.message) {
      count(ReplyResult::kInvalid);
      spdlog::debug("commands: refused message on {}: {}", m.topic, to_string(parsed.rejection));
      done(true);  // a redelivery would not make it valid
      return;
    }
    auto task = [this, msg = std::move(*parsed.message), done]() {
      const ReplyResult r = service_->on_reply(msg.device_id, msg.body);
      count(r);
      if (r != ReplyResult::kApplied && r != ReplyResult::kIgnored) {
        spdlog::info("commands: reply from {} refused: {}", msg.device_id, to_string(r));
      }
      // Not stored: not acknowledged, so the broker redelivers it.
      done(r != ReplyResult::kStoreFailed);
    };
    const std::string key = parsed.message->device_id;
    if (!workers_->post(key, std::move(task))) done(false);
  }

  devices::Caller caller_of(const identity::Principal& p) { return {p.user_id, p.is_admin()}; }

  Response create(Request& req, const identity::Principal& p) {
    const std::string device_id = req.param("deviceId");
    auto reg = devices_->controllable(caller_of(p), device_id);
    if (!reg) return Response::error(reg.error());
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto created = service_->create(Target{device_id, reg->user_id, reg->details}, *body);
    if (!created) return Response::error(created.error());
    return Response::json(201, command_to_json(*created));
  }

  // The readers: owners see their own commands of the device (also after they deleted it),
  // admins every command.
  Result<std::optional<std::string>> reader(const std::string& device_id,
                                            const identity::Principal& p) {
    auto reg = devices_->device(caller_of(p), device_id);
    if (!reg) return tl::unexpected(reg.error());
    if (p.is_admin()) return std::optional<std::string>{};
    return std::optional<std::string>(p.user_id);
  }

  Response list(Request& req, const identity::Principal& p) {
    const std::string device_id = req.param("deviceId");
    auto owner = reader(device_id, p);
    if (!owner) return Response::error(owner.error());
    std::optional<CommandStatus> status;
    if (auto s = req.query_param("commandStatus"); s && !s->empty()) {
      status = command_status_from(*s);
      if (!status) {
        return Response::error(errors::kInvalidQuery,
                               "commandStatus must be pending, success, failed or superseded.");
      }
    }
    auto page = http::parse_page<CommandKey>(req, command_key);
    if (!page) return Response::error(page.error());
    auto rows = service_->list(device_id, *owner, status, page->limit, page->after);
    if (!rows) return Response::error(rows.error());
    json items = json::array();
    for (const auto& c : rows->items) items.push_back(command_to_json(c));
    std::optional<json> next;
    if (rows->next) next = json{{"t", rows->next->created_at_ms}, {"s", rows->next->seq}};
    json out = http::page_json(std::move(items), next);
    if (status) out["commandStatus"] = to_string(*status);  // the seed echoes its filter
    return Response::json(200, out);
  }

  Response get_one(Request& req, const identity::Principal& p) {
    const std::string device_id = req.param("deviceId");
    auto owner = reader(device_id, p);
    if (!owner) return Response::error(owner.error());
    auto c = service_->get(device_id, *owner, req.param("commandId"));
    if (!c) return Response::error(c.error());
    return Response::json(200, command_to_json(*c));
  }

  Settings settings_;
  const identity::Authenticator* auth_ = nullptr;
  devices::DeviceService* devices_ = nullptr;
  std::unique_ptr<store::CommandRepository> repo_;
  std::unique_ptr<CommandService> service_;
  std::unique_ptr<KeyedWorkers> workers_;
  std::array<std::atomic<std::uint64_t>, 7> replies_{};

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread sweeper_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<CommandsModule>(); }

}  // namespace sp::commands
