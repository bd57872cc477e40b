// The shadow module: AWS IoT classic-shadow topics for devices ($aws/things/<sn>/shadow/...), the
// owner's view and edit of the document (/api/devices/{id}/shadow) and the seed's status route.
// The device id always comes from the topic (the broker binds it to the certificate) or the route.

#include "smartproduct/shadow/module.hpp"

#include <spdlog/spdlog.h>

#include <atomic>

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/keyed_workers.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/presence/service.hpp"
#include "smartproduct/shadow/events.hpp"
#include "smartproduct/shadow/service.hpp"
#include "smartproduct/shadow/topics.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::shadow {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// A 200 whose body is JSON text the service already rendered.
Response json_text(std::string body) {
  Response r;
  r.set_header("content-type", "application/json");
  r.body = std::move(body);
  return r;
}

// Parallel shadow writes across devices (the store's writer batches them into one commit); the
// updates of one device stay in order on one thread.
constexpr std::size_t kWorkerThreads = 4;

class ShadowModule final : public Module {
 public:
  std::string_view name() const override { return "shadow"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    section.finish();  // no keys yet: AWS's limits (types.hpp Limits) apply
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    devices_ = &ctx.services.get<devices::DeviceService>();
    presence_ = &ctx.services.get<presence::PresenceService>();
    publisher_ = &ctx.publisher;
    bus_ = &ctx.bus;
    repo_ = sqlite::make_shadow_repository(ctx.store.main_ptr());
    service_ = std::make_unique<ShadowService>(*repo_, ctx.clock);
    workers_ = std::make_unique<KeyedWorkers>("shadow", kWorkerThreads);
    ctx.services.provide(*service_);
    return {};
  }

  void register_topics(mqtt::TopicRouter& topics) override {
    for (const char* op : {"update", "get", "delete"}) {
      topics.add(std::string(kShadowTopicPrefix) + "/+/shadow/" + op, 1,
                 [this, op = std::string(op)](mqtt::Message&& m, mqtt::Done done) {
                   on_device_request(op, std::move(m), std::move(done));
                 });
    }
  }

  void register_routes(http::Router& router) override {
    router.add("GET", "/api/devices/{deviceId}/shadow",
               auth_->protect([this](Request& req, const identity::Principal& p) {
                 return get_shadow(req.param("deviceId"), p);
               }));
    router.add("PATCH", "/api/devices/{deviceId}/shadow",
               auth_->protect([this](Request& req, const identity::Principal& p) {
                 return patch_shadow(req, p);
               }));
    router.add("GET", "/api/devices/{deviceId}/status",
               auth_->protect([this](Request& req, const identity::Principal& p) {
                 return status(req.param("deviceId"), p);
               }));
  }

  void stop() override {
    if (workers_) workers_->stop();
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    add_counter(out, "smartproduct_shadow_requests_total",
                "Shadow requests from devices, by result", static_cast<double>(accepted_.load()),
                "result=\"accepted\"");
    add_counter(out, "smartproduct_shadow_requests_total",
                "Shadow requests from devices, by result", static_cast<double>(rejected_.load()),
                "result=\"rejected\"");
    add_counter(out, "smartproduct_shadow_requests_total",
                "Shadow requests from devices, by result", static_cast<double>(refused_.load()),
                "result=\"refused\"");
  }

 private:
  std::string topic(const std::string& device_id, const std::string& suffix) const {
    return std::string(kShadowTopicPrefix) + "/" + device_id + "/shadow/" + suffix;
  }

  void publish(const std::string& device_id, const std::string& suffix, std::string payload) {
    publisher_->publish(topic(device_id, suffix), std::move(payload), 1, false);
  }

  void publish_update(const std::string& device_id, const UpdateOutcome& out) {
    for (auto& p : update_publications(device_id, out)) {
      publisher_->publish(std::move(p.topic), std::move(p.payload), 1, false);
    }
    bus_->publish(ShadowUpdated{device_id, out.current});
  }

  void on_device_request(const std::string& op, mqtt::Message&& m, mqtt::Done done) {
    // $aws/things/<id>/shadow/<op>: the id is the third segment.
    const std::string_view prefix = kShadowTopicPrefix;
    const std::string_view rest = std::string_view(m.topic).substr(prefix.size() + 1);
    const std::string device_id(rest.substr(0, rest.find('/')));
    if (!is_valid_device_id(device_id)) {
      ++refused_;
      done(true);  // the broker's ACL makes this unreachable; nothing to answer to
      return;
    }
    auto task = [this, op, device_id, payload = std::move(m.payload), done]() {
      handle(op, device_id, payload);
      done(true);
    };
    // A full queue: not acknowledged, so the broker redelivers it later.
    if (!workers_->post(device_id, std::move(task))) done(false);
  }

  void handle(const std::string& op, const std::string& device_id, const std::string& payload) {
    const auto reject = [&](const Rejection& r) {
      ++rejected_;
      if (!r.detail.empty()) spdlog::debug("shadow: {} {} rejected: {}", device_id, op, r.detail);
      publish(device_id, op + "/rejected", r.to_json(service_->now_s()).dump());
    };
    if (op == "update") {
      auto r = service_->update(device_id, payload);
      if (!r) return reject(r.error());
      ++accepted_;
      publish_update(device_id, *r);
    } else if (op == "get") {
      auto r = service_->get(device_id, payload);
      if (!r) return reject(r.error());
      ++accepted_;
      publish(device_id, "get/accepted", std::move(*r));
    } else {
      auto r = service_->remove(device_id, payload);
      if (!r) return reject(r.error());
      ++accepted_;
      publish(device_id, "delete/accepted", r->accepted);
      bus_->publish(ShadowDeleted{device_id});
    }
  }

  Response get_shadow(const std::string& device_id, const identity::Principal& p) {
    if (auto d = devices_->controllable({p.user_id, p.is_admin()}, device_id); !d) {
      return Response::error(d.error());
    }
    auto r = service_->get(device_id);
    if (!r) return Response::error(r.error().to_error());
    return json_text(std::move(*r));
  }

  Response patch_shadow(Request& req, const identity::Principal& p) {
    const std::string device_id = req.param("deviceId");
    if (auto d = devices_->controllable({p.user_id, p.is_admin()}, device_id); !d) {
      return Response::error(d.error());
    }
    if (auto body = http::parse_json_object(req); !body) return Response::error(body.error());
    auto r = service_->update_as_owner(device_id, req.body);
    if (!r) return Response::error(r.error().to_error());
    publish_update(device_id, *r);
    return json_text(r->accepted);
  }

  Response status(const std::string& device_id, const identity::Principal& p) {
    if (auto d = devices_->controllable({p.user_id, p.is_admin()}, device_id); !d) {
      return Response::error(d.error());
    }
    auto doc = service_->find(device_id);
    if (!doc) return Response::error(doc.error().to_error());
    if (!*doc) return Response::json(200, json::object());  // no shadow yet: {} as the seed
    json out = document_json(**doc, service_->now_s());
    auto state = presence_->state(device_id);
    out["connected"] = state && *state && (*state)->connected;
    return Response::json(200, out);
  }

  const identity::Authenticator* auth_ = nullptr;
  devices::DeviceService* devices_ = nullptr;
  presence::PresenceService* presence_ = nullptr;
  mqtt::Publisher* publisher_ = nullptr;
  EventBus* bus_ = nullptr;
  std::unique_ptr<store::ShadowRepository> repo_;
  std::unique_ptr<ShadowService> service_;
  std::unique_ptr<KeyedWorkers> workers_;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<ShadowModule>(); }

}  // namespace sp::shadow
