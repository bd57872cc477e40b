// The notifications module (issue 13 item 3): a worker thread fans the outbox
// (notification_outbox, written by producers in their own transactions) out to each user's
// channels (email, SMS, webhook) and the admin-wide webhook, rate-limits per (user, group_key)
// with a digest at the end of the window, retries with back-off and jitter and marks deliveries
// dead after max_attempts. Routes: the user's channels, a test notification, the admin listing
// of deliveries and their retry.

#include "smartproduct/notifications/module.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "modules/notifications/transport.hpp"
#include "smartproduct/http/paging.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/identity/mailer.hpp"
#include "smartproduct/notifications/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::notifications {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// One test notification per user per this long (each fans out to every channel).
constexpr std::int64_t kTestIntervalMs = 5000;

json iso_or_null(const std::optional<std::int64_t>& ms) {
  return ms ? json(iso8601_ms(*ms)) : json(nullptr);
}

json delivery_to_json(const Delivery& d) {
  return {
      {"id", d.id},
      {"deliveryId", d.delivery_id},
      {"outboxId", d.outbox_id ? json(*d.outbox_id) : json(nullptr)},
      {"userId", d.user_id},
      {"channel", to_string(d.channel)},
      {"kind", d.kind},
      {"groupKey", d.group_key},
      {"target", d.target},
      {"state", to_string(d.state)},
      {"attempts", d.attempts},
      {"nextAttemptAt",
       d.state == DeliveryState::kPending ? json(iso8601_ms(d.next_attempt_at_ms)) : json(nullptr)},
      {"lastError", d.last_error},
      {"createdAt", iso8601_ms(d.created_at_ms)},
      {"sentAt", iso_or_null(d.sent_at_ms)}};
}

class NotificationsModule final : public Module {
 public:
  std::string_view name() const override { return "notifications"; }

  void configure(config::Section& s, const config::DaemonConfig&) override {
    auto& st = settings_;
    st.max_attempts = static_cast<int>(s.integer("max_attempts", st.max_attempts, 1, 100));
    st.window_s = s.integer("window_s", st.window_s, 0, 7 * 86400);
    st.backoff_base_ms = s.integer("backoff_base_ms", st.backoff_base_ms, 10, 86400000);
    st.backoff_max_ms = s.integer("backoff_max_ms", st.backoff_max_ms, 10, 7 * 86400000LL);
    st.poll_ms = s.integer("poll_ms", st.poll_ms, 20, 60000);
    st.send_timeout_s = s.integer("send_timeout_s", st.send_timeout_s, 1, 300);
    st.allow_http_webhooks = s.boolean("allow_http_webhooks", st.allow_http_webhooks);
    st.admin_webhook_url = s.string("admin_webhook_url", "");
    st.admin_webhook_secret = s.string("admin_webhook_secret", "");
    ca_file_ = s.path("ca_file", {});
    st.sms.url = s.string("sms_url", "");
    st.sms.auth_header = s.string("sms_auth_header", "");
    st.sms.format = s.one_of("sms_format", st.sms.format, {"json", "form"});
    st.sms.body_template = s.string("sms_body_template", st.sms.body_template);
    if (st.backoff_max_ms < st.backoff_base_ms) {
      s.error("backoff_max_ms", "must not be below backoff_base_ms");
    }
    if (!st.admin_webhook_url.empty()) {
      if (auto why = check_webhook_url(st.admin_webhook_url, st.allow_http_webhooks);
          !why.empty()) {
        s.error("admin_webhook_url", why);
      }
      if (st.admin_webhook_secret.size() < 16) {
        s.error("admin_webhook_secret", "at least 16 characters are needed with admin_webhook_url");
      }
    }
    if (!st.sms.url.empty()) {
      if (!st.sms.url.starts_with("https://") &&
          !(st.allow_http_webhooks && st.sms.url.starts_with("http://"))) {
        s.error("sms_url", "must be an https:// URL (http:// only with allow_http_webhooks)");
      }
      if (st.sms.body_template.find("{{text}}") == std::string::npos ||
          st.sms.body_template.find("{{to}}") == std::string::npos) {
        s.error("sms_body_template", "must contain {{to}} and {{text}}");
      }
      if (!st.sms.auth_header.empty() && st.sms.auth_header.find(':') == std::string::npos) {
        s.error("sms_auth_header",
                "must be a whole header line, e.g. \"Authorization: Bearer ...\"");
      }
    }
    s.finish();
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    clock_ = &ctx.clock;
    repo_ = sqlite::make_notification_repository(ctx.store.main_ptr());
    TransportConfig tc;
    tc.mail = ctx.services.find<const identity::MailerConfig>();
    tc.sms = settings_.sms;
    tc.timeout_s = static_cast<long>(settings_.send_timeout_s);
    tc.ca_file = ca_file_;
    tc.allow_http = settings_.allow_http_webhooks;
    transport_ = make_curl_transport(tc);
    service_ = std::make_unique<NotificationService>(*repo_, *transport_, ctx.clock, settings_);
    if (!transport_->email_available()) {
      spdlog::warn("notifications: no SMTP server ([identity] smtp_url): the email channel is off");
    }
    return {};
  }

  void register_routes(http::Router& router) override {
    router.add(
        "GET", "/api/notifications/channels",
        auth_->protect([this](Request&, const identity::Principal& p) { return get_channels(p); }));
    router.add("PUT", "/api/notifications/channels",
               auth_->protect([this](Request& r, const identity::Principal& p) {
                 return put_channels(r, p);
               }));
    router.add(
        "POST", "/api/notifications/test",
        auth_->protect([this](Request&, const identity::Principal& p) { return send_test(p); }));
    router.add(
        "GET", "/api/admin/notifications",
        auth_->protect_admin([this](Request& r, const identity::Principal&) { return list(r); }));
    router.add(
        "POST", "/api/admin/notifications/{deliveryId}/retry",
        auth_->protect_admin([this](Request& r, const identity::Principal&) { return retry(r); }));
  }

  Result<void> start() override {
    stopping_ = false;
    worker_ = std::thread([this] { work(); });
    return {};
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    const auto s = service_->stats();
    const char* help = "Notifications by what happened to them";
    add_counter(out, "smartproduct_notifications_total", help, static_cast<double>(s.fanned_out),
                "event=\"queued\"");
    add_counter(out, "smartproduct_notifications_total", help, static_cast<double>(s.held),
                "event=\"held\"");
    add_counter(out, "smartproduct_notifications_total", help, static_cast<double>(s.digests),
                "event=\"digest\"");
    add_counter(out, "smartproduct_notification_deliveries_total", "Channel deliveries by result",
                static_cast<double>(s.sent), "result=\"sent\"");
    add_counter(out, "smartproduct_notification_deliveries_total", "Channel deliveries by result",
                static_cast<double>(s.failed_attempts), "result=\"failed_attempt\"");
    add_counter(out, "smartproduct_notification_deliveries_total", "Channel deliveries by result",
                static_cast<double>(s.dead), "result=\"dead\"");
    if (auto backlog = repo_->backlog()) {
      add_gauge(out, "smartproduct_notification_outbox_rows",
                "Outbox rows the worker has not fanned out yet",
                static_cast<double>(backlog->outbox_rows));
      add_gauge(out, "smartproduct_notification_deliveries_pending",
                "Deliveries waiting to be sent (first attempt or retry)",
                static_cast<double>(backlog->pending_deliveries));
    }
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      bool more = false;
      try {
        auto r = service_->tick();
        if (!r) {
          spdlog::error("notifications: worker pass failed: {} {}", r.error().message,
                        r.error().detail);
        } else {
          more = *r;
        }
      } catch (const std::exception& e) {
        spdlog::error("notifications: worker pass failed: {}", e.what());
      }
      lock.lock();
      if (more) continue;
      wake_.wait_for(lock, std::chrono::milliseconds(settings_.poll_ms),
                     [this] { return stopping_ || woken_; });
      woken_ = false;
    }
  }

  void wake() {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    wake_.notify_all();
  }

  json channels_json(const Recipient& r) const {
    return {{"email", r.email},
            {"emailEnabled", r.channels.email_enabled},
            {"emailAvailable", transport_->email_available()},
            {"phone", r.phone},
            {"smsEnabled", r.channels.sms_enabled},
            {"smsAvailable", transport_->sms_available()},
            {"webhookUrl",
             r.channels.webhook_url.empty() ? json(nullptr) : json(r.channels.webhook_url)},
            {"webhookSecretSet", !r.channels.webhook_secret.empty()}};
  }

  Response get_channels(const identity::Principal& p) {
    auto r = service_->channels(p.user_id);
    if (!r) return Response::error(r.error());
    return Response::json(200, channels_json(*r));
  }

  Response put_channels(Request& req, const identity::Principal& p) {
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto saved = service_->save_channels(p.user_id, *body);
    if (!saved) return Response::error(saved.error());
    json out = channels_json(saved->recipient);
    // Shown once: only in the answer of the request that created or rotated it.
    if (saved->new_secret) out["webhookSecret"] = *saved->new_secret;
    return Response::json(200, out);
  }

  Response send_test(const identity::Principal& p) {
    {
      std::lock_guard lock(test_mutex_);
      const std::int64_t now = clock_->now_ms();
      auto& last = last_test_[p.user_id];
      if (last != 0 && now - last < kTestIntervalMs) {
        return Response::error(errors::kTooManyAttempts,
                               "Wait a few seconds before sending another test notification.");
      }
      last = now;
      if (last_test_.size() > 10000) last_test_.clear();  // bounded; losing it only relaxes
    }
    auto id = service_->queue_test(p.user_id);
    if (!id) return Response::error(errors::from_store(id.error()));
    wake();
    return Response::json(202, json{{"queued", true}, {"outboxId", *id}});
  }

  Response list(Request& req) {
    std::optional<DeliveryState> state;
    if (auto s = req.query_param("state"); s && !s->empty()) {
      state = delivery_state_from(*s);
      if (!state) {
        return Response::error(errors::kInvalidQuery, "state must be pending, sent or dead.");
      }
    }
    auto page =
        http::parse_page<std::int64_t>(req, [](const json& k) -> std::optional<std::int64_t> {
          auto it = k.find("i");
          if (it == k.end() || !it->is_number_integer()) return std::nullopt;
          return it->get<std::int64_t>();
        });
    if (!page) return Response::error(page.error());
    // One more than asked tells whether another page exists.
    auto rows = service_->list(state, page->limit + 1, page->after);
    if (!rows) return Response::error(errors::from_store(rows.error()));
    std::optional<json> next;
    if (rows->size() > static_cast<std::size_t>(page->limit)) {
      rows->resize(static_cast<std::size_t>(page->limit));
      next = json{{"i", rows->back().id}};
    }
    json items = json::array();
    for (const auto& d : *rows) items.push_back(delivery_to_json(d));
    return Response::json(200, http::page_json(std::move(items), next));
  }

  Response retry(Request& req) {
    const std::string& text = req.param("deliveryId");
    std::int64_t id = 0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, id);
    if (ec != std::errc() || ptr != end || id <= 0) {
      return Response::error(errors::kMissingDelivery);
    }
    auto d = service_->retry(id);
    if (!d) return Response::error(d.error());
    wake();
    return Response::json(200, delivery_to_json(*d));
  }

  Settings settings_;
  std::filesystem::path ca_file_;
  const identity::Authenticator* auth_ = nullptr;
  const Clock* clock_ = nullptr;
  std::unique_ptr<store::NotificationRepository> repo_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<NotificationService> service_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread worker_;

  std::mutex test_mutex_;
  std::unordered_map<std::string, std::int64_t> last_test_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<NotificationsModule>(); }

}  // namespace sp::notifications
