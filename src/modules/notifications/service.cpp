#include "smartproduct/notifications/service.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "smartproduct/core/ids.hpp"
#include "smartproduct/http/errors.hpp"
#include "smartproduct/identity/accounts.hpp"

namespace sp::notifications {
namespace {

using nlohmann::json;

template <class T>
tl::unexpected<Error> forward(const Result<T>& r) {
  return tl::unexpected(errors::from_store(r.error()));
}

constexpr int kFanoutBatch = 200;
constexpr int kSendBatch = 20;
constexpr std::string_view kDigestKind = "digest";
constexpr std::size_t kMaxUrlBytes = 2048;
constexpr std::size_t kMaxErrorBytes = 500;

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "n/a";
  return v.dump();
}

std::string field(const json& payload, const char* key) {
  auto it = payload.find(key);
  return it == payload.end() ? std::string() : text_of(*it);
}

std::string subject_of(std::string_view kind, const json& payload) {
  if (kind == kKindTest) return "Smart Product test notification";
  std::string s = "Smart Product Event Alert: " + field(payload, "eventType") + " on " +
                  field(payload, "deviceName");
  if (kind == kDigestKind) s += " (digest)";
  return s;
}

}  // namespace

std::string_view to_string(Channel c) {
  switch (c) {
    case Channel::kEmail:
      return "email";
    case Channel::kSms:
      return "sms";
    case Channel::kWebhook:
      return "webhook";
    case Channel::kAdminWebhook:
      return "admin_webhook";
  }
  return "email";
}

std::string_view to_string(DeliveryState s) {
  switch (s) {
    case DeliveryState::kPending:
      return "pending";
    case DeliveryState::kSent:
      return "sent";
    case DeliveryState::kDead:
      return "dead";
  }
  return "pending";
}

std::optional<Channel> channel_from(std::string_view t) {
  for (Channel c : {Channel::kEmail, Channel::kSms, Channel::kWebhook, Channel::kAdminWebhook}) {
    if (to_string(c) == t) return c;
  }
  return std::nullopt;
}

std::optional<DeliveryState> delivery_state_from(std::string_view t) {
  for (DeliveryState s : {DeliveryState::kPending, DeliveryState::kSent, DeliveryState::kDead}) {
    if (to_string(s) == t) return s;
  }
  return std::nullopt;
}

namespace {
// The seed's detail lines (§8.3) under a headline; digests label the time "Last time".
std::string event_text(const json& p, const std::string& headline, const char* time_label) {
  return "** Smart Product Event Alert **\n" + headline +
         "\n\n* Device: " + field(p, "deviceName") + "\n* " + time_label + ": " +
         field(p, "createdAt") + "\n* Message: " + field(p, "message") +
         "\n* Value: " + field(p, "value");
}
}  // namespace

std::string alert_text(const json& payload) {
  // seed-behaviour.md §8.3, line for line.
  return event_text(payload, "You have a new " + field(payload, "eventType") + " event.", "Time");
}

std::string digest_text(const json& last, std::int64_t held, std::int64_t window_s) {
  const std::int64_t minutes = std::max<std::int64_t>(1, (window_s + 59) / 60);
  return event_text(last,
                    std::to_string(held) + " more " + (held == 1 ? "alert" : "alerts") +
                        " like this in the last " + std::to_string(minutes) +
                        (minutes == 1 ? " minute." : " minutes."),
                    "Last time");
}

std::string test_text(std::int64_t now_ms) {
  return "** Smart Product Test Notification **\nThis is a test notification. Your channel "
         "works.\n\n* Time: " +
         iso8601_ms(now_ms);
}

std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
  std::string signed_text;
  signed_text.reserve(timestamp.size() + 1 + body.size());
  signed_text.append(timestamp).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0xf];
  }
  return out;
}

namespace {
std::string form_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string json_escape(std::string_view s) {
  std::string quoted = json(std::string(s)).dump();
  return quoted.substr(1, quoted.size() - 2);
}

}  // namespace

std::string render_sms_body(std::string_view body_template, std::string_view format,
                            std::string_view to, std::string_view text) {
  const bool form = format == "form";
  std::string out(body_template);
  // Placeholders are replaced in one left-to-right pass over the template so a value containing
  // "{{text}}" is never substituted again.
  std::string result;
  std::size_t i = 0;
  while (i < out.size()) {
    if (out.compare(i, 6, "{{to}}") == 0) {
      result += form ? form_encode(to) : json_escape(to);
      i += 6;
    } else if (out.compare(i, 8, "{{text}}") == 0) {
      result += form ? form_encode(text) : json_escape(text);
      i += 8;
    } else {
      result += out[i++];
    }
  }
  return result;
}

std::string check_webhook_url(std::string_view url, bool allow_http) {
  if (url.size() > kMaxUrlBytes) return "The URL is too long.";
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    if (!allow_http) return "Webhook URLs must use https.";
    rest = url.substr(7);
  } else {
    return "Webhook URLs must start with https://.";
  }
  const std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty() || host.find('@') != std::string_view::npos) {
    return "The webhook URL needs a host (and no user name or password).";
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) return "The URL must not contain spaces or control characters.";
  }
  return {};
}

NotificationService::NotificationService(store::NotificationRepository& repo, Transport& transport,
                                         const Clock& clock, Settings settings,
                                         std::function<double()> random01)
    : repo_(repo),
      transport_(transport),
      clock_(clock),
      settings_(std::move(settings)),
      random01_(std::move(random01)) {
  if (!random01_) {
    random01_ = [] {
      thread_local std::mt19937_64 gen{std::random_device{}()};
      return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
    };
  }
}

Stats NotificationService::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

std::int64_t NotificationService::backoff_ms(int attempts) {
  // Exponential with "equal jitter": half the step fixed, half random, capped.
  double step =
      static_cast<double>(settings_.backoff_base_ms) * std::pow(2.0, std::max(0, attempts - 1));
  step = std::min(step, static_cast<double>(settings_.backoff_max_ms));
  return static_cast<std::int64_t>(step / 2 + random01_() * step / 2);
}

std::string NotificationService::new_delivery_id() { return ids::uuid_v4(); }

Result<bool> NotificationService::tick() {
  auto a = fan_out();
  if (!a) return a;
  auto b = emit_digests();
  if (!b) return b;
  auto c = send_due();
  if (!c) return c;
  return *a || *b || *c;
}

void NotificationService::add_deliveries(store::FanoutBatch& batch, const Recipient& r,
                                         std::string_view kind, std::string_view group_key,
                                         std::optional<std::int64_t> outbox_id,
                                         const std::string& text, const std::string& subject,
                                         const json& webhook_doc, std::int64_t now) {
  auto make = [&](Channel ch, std::string target, std::string body) {
    Delivery d;
    d.delivery_id = new_delivery_id();
    d.outbox_id = outbox_id;
    d.user_id = r.user_id;
    d.channel = ch;
    d.kind = std::string(kind);
    d.group_key = std::string(group_key);
    d.target = std::move(target);
    if (ch == Channel::kEmail) d.subject = subject;
    d.body = std::move(body);
    d.next_attempt_at_ms = now;
    d.created_at_ms = now;
    batch.deliveries.push_back(std::move(d));
  };
  if (r.channels.email_enabled && !r.email.empty() && transport_.email_available()) {
    make(Channel::kEmail, r.email, text);
  }
  if (r.channels.sms_enabled && !r.phone.empty() && transport_.sms_available()) {
    make(Channel::kSms, r.phone, text);
  }
  if (!r.channels.webhook_url.empty()) {
    make(Channel::kWebhook, r.channels.webhook_url, "");
    json doc = webhook_doc;
    doc["deliveryId"] = batch.deliveries.back().delivery_id;
    batch.deliveries.back().body = doc.dump();
  }
  if (!settings_.admin_webhook_url.empty()) {
    make(Channel::kAdminWebhook, settings_.admin_webhook_url, "");
    json doc = webhook_doc;
    doc["deliveryId"] = batch.deliveries.back().delivery_id;
    batch.deliveries.back().body = doc.dump();
  }
}

Result<bool> NotificationService::fan_out() {
  auto cursor = repo_.cursor();
  if (!cursor) return forward(cursor);
  auto rows = repo_.outbox_after(*cursor, kFanoutBatch);
  if (!rows) return forward(rows);
  if (rows->empty()) return false;
  const std::int64_t now = clock_.now_ms();
  const std::int64_t window_ms = settings_.window_s * 1000;
  store::FanoutBatch batch;
  batch.cursor = rows->back().id;
  // Windows touched earlier in this batch (not yet committed).
  std::map<std::pair<std::string, std::string>, Window> windows;
  std::uint64_t fanned = 0, held = 0;
  for (const auto& row : *rows) {
    if (row.kind != kKindAlert && row.kind != kKindTest) {
      if (unknown_kinds_logged_.insert(row.kind).second) {
        spdlog::warn("notifications: outbox kind '{}' is unknown; such rows are skipped", row.kind);
      }
      continue;
    }
    auto r = repo_.recipient(row.user_id);
    if (!r) return forward(r);
    if (!*r || !(*r)->enabled) continue;  // deleted or disabled account: nobody to tell
    const auto key = std::make_pair(row.user_id, row.group_key);
    std::optional<Window> w;
    if (auto it = windows.find(key); it != windows.end()) {
      w = it->second;
    } else {
      auto stored = repo_.window(row.user_id, row.group_key);
      if (!stored) return forward(stored);
      w = *stored;
    }
    if (w && now < w->start_ms + window_ms) {
      // Inside the window: held back for the digest.
      ++w->held;
      w->last_payload = row.payload;
      windows[key] = *w;
      ++held;
      continue;
    }
    // A window that ended with held messages is flushed by emit_digests() before it is replaced:
    // emit it here (before the new message) so nothing held is forgotten.
    if (w && w->held > 0) {
      const std::string text = digest_text(w->last_payload, w->held, settings_.window_s);
      json doc = {
          {"kind", kDigestKind}, {"userId", w->user_id},         {"groupKey", w->group_key},
          {"count", w->held},    {"createdAt", iso8601_ms(now)}, {"payload", w->last_payload},
          {"text", text}};
      add_deliveries(batch, **r, kDigestKind, w->group_key, std::nullopt, text,
                     subject_of(kDigestKind, w->last_payload), doc, now);
    }
    const std::string text =
        row.kind == kKindTest ? test_text(row.created_at_ms) : alert_text(row.payload);
    json doc = {{"kind", row.kind},
                {"userId", row.user_id},
                {"groupKey", row.group_key},
                {"outboxId", row.id},
                {"createdAt", iso8601_ms(row.created_at_ms)},
                {"payload", row.payload},
                {"text", text}};
    add_deliveries(batch, **r, row.kind, row.group_key, row.id, text,
                   subject_of(row.kind, row.payload), doc, now);
    windows[key] = Window{row.user_id, row.group_key, row.kind, now, 0, json::object()};
    ++fanned;
  }
  for (auto& [key, w] : windows) batch.window_upserts.push_back(w);
  if (auto c = repo_.commit_fanout(batch); !c) return forward(c);
  std::lock_guard lock(stats_mutex_);
  stats_.fanned_out += fanned;
  stats_.held += held;
  return rows->size() == static_cast<std::size_t>(kFanoutBatch);
}

Result<bool> NotificationService::emit_digests() {
  const std::int64_t now = clock_.now_ms();
  const std::int64_t window_ms = settings_.window_s * 1000;
  auto ended = repo_.windows_started_before(now - window_ms, kFanoutBatch);
  if (!ended) return forward(ended);
  if (ended->empty()) return false;
  store::FanoutBatch batch;
  auto cursor = repo_.cursor();
  if (!cursor) return forward(cursor);
  batch.cursor = *cursor;
  std::uint64_t digests = 0;
  for (const auto& w : *ended) {
    batch.window_deletes.emplace_back(w.user_id, w.group_key);
    if (w.held <= 0) continue;
    auto r = repo_.recipient(w.user_id);
    if (!r) return forward(r);
    if (!*r || !(*r)->enabled) continue;
    const std::string text = digest_text(w.last_payload, w.held, settings_.window_s);
    json doc = {{"kind", kDigestKind}, {"userId", w.user_id},          {"groupKey", w.group_key},
                {"count", w.held},     {"createdAt", iso8601_ms(now)}, {"payload", w.last_payload},
                {"text", text}};
    add_deliveries(batch, **r, kDigestKind, w.group_key, std::nullopt, text,
                   subject_of(kDigestKind, w.last_payload), doc, now);
    ++digests;
  }
  if (auto c = repo_.commit_fanout(batch); !c) return forward(c);
  std::lock_guard lock(stats_mutex_);
  stats_.digests += digests;
  return ended->size() == static_cast<std::size_t>(kFanoutBatch);
}

Result<bool> NotificationService::send_due() {
  auto due = repo_.due(clock_.now_ms(), kSendBatch);
  if (!due) return forward(due);
  for (const auto& d : *due) {
    Result<void> sent;
    switch (d.channel) {
      case Channel::kEmail:
        sent = transport_.email(d.target, d.subject, d.body);
        break;
      case Channel::kSms:
        sent = transport_.sms(d.target, d.body);
        break;
      case Channel::kWebhook: {
        // The secret is the user's current one (a rotation applies to queued messages too).
        auto r = repo_.recipient(d.user_id);
        if (!r) return forward(r);
        if (!*r || (*r)->channels.webhook_url.empty()) {
          sent = fail(errors::kChannelUnavailable, "The webhook was removed.",
                      "the user removed the webhook");
        } else {
          sent = transport_.webhook(d.target, (*r)->channels.webhook_secret, d.delivery_id, d.body);
        }
        break;
      }
      case Channel::kAdminWebhook:
        sent = transport_.webhook(d.target, settings_.admin_webhook_secret, d.delivery_id, d.body);
        break;
    }
    const int attempts = d.attempts + 1;
    const std::int64_t now = clock_.now_ms();
    if (sent) {
      if (auto m = repo_.mark_sent(d.id, attempts, now); !m) return forward(m);
      std::lock_guard lock(stats_mutex_);
      ++stats_.sent;
      continue;
    }
    std::string why = sent.error().detail.empty() ? sent.error().message : sent.error().detail;
    if (why.size() > kMaxErrorBytes) why.resize(kMaxErrorBytes);
    if (attempts >= settings_.max_attempts) {
      spdlog::warn("notifications: delivery {} ({}) is dead after {} attempts: {}", d.id,
                   to_string(d.channel), attempts, why);
      if (auto m = repo_.mark_dead(d.id, attempts, why); !m) return forward(m);
      std::lock_guard lock(stats_mutex_);
      ++stats_.failed_attempts;
      ++stats_.dead;
    } else {
      const std::int64_t next = now + backoff_ms(attempts);
      spdlog::info("notifications: delivery {} ({}) attempt {} failed, retry in {} ms: {}", d.id,
                   to_string(d.channel), attempts, next - now, why);
      if (auto m = repo_.mark_retry(d.id, attempts, next, why); !m) return forward(m);
      std::lock_guard lock(stats_mutex_);
      ++stats_.failed_attempts;
    }
  }
  return due->size() == static_cast<std::size_t>(kSendBatch);
}

Result<std::int64_t> NotificationService::queue_test(std::string_view user_id) {
  OutboxMessage m;
  m.user_id = std::string(user_id);
  m.kind = std::string(kKindTest);
  // One group per user: repeated tests inside the window fold into a digest like alerts do.
  m.group_key = "test";
  const std::int64_t now = clock_.now_ms();
  m.payload = {{"message", "test notification"}, {"createdAt", iso8601_ms(now)}};
  m.created_at_ms = now;
  return repo_.insert_outbox(m);
}

Result<Recipient> NotificationService::channels(std::string_view user_id) {
  auto r = repo_.recipient(user_id);
  if (!r) return forward(r);
  if (!*r) return fail(errors::kNotFound, "No such user.");
  return **r;
}

Result<NotificationService::Saved> NotificationService::save_channels(std::string_view user_id,
                                                                      const json& body) {
  auto current = channels(user_id);
  if (!current) return forward(current);
  ChannelSettings c = current->channels;
  std::optional<std::string> phone;
  auto boolean = [&](const char* key, bool& out) -> Result<void> {
    auto it = body.find(key);
    if (it == body.end()) return {};
    if (!it->is_boolean())
      return fail(errors::kInvalidField, std::string(key) + " must be a boolean.");
    out = it->get<bool>();
    return {};
  };
  if (auto e = boolean("emailEnabled", c.email_enabled); !e) return forward(e);
  if (auto e = boolean("smsEnabled", c.sms_enabled); !e) return forward(e);
  if (auto it = body.find("phone"); it != body.end()) {
    if (!it->is_string()) return fail(errors::kInvalidField, "phone must be a string.");
    auto p = identity::check_phone(it->get<std::string>());
    if (!p) return forward(p);
    phone = *p;
  }
  const std::string effective_phone = phone ? *phone : current->phone;
  if (c.sms_enabled && effective_phone.empty()) {
    return fail(errors::kInvalidPhone, "SMS needs a phone number in international format.");
  }
  std::optional<std::string> new_secret;
  if (auto it = body.find("webhookUrl"); it != body.end()) {
    if (it->is_null()) {
      c.webhook_url.clear();
      c.webhook_secret.clear();
    } else if (!it->is_string()) {
      return fail(errors::kInvalidField, "webhookUrl must be a string or null.");
    } else {
      const std::string url = it->get<std::string>();
      if (url.empty()) {
        c.webhook_url.clear();
        c.webhook_secret.clear();
      } else {
        if (auto why = check_webhook_url(url, settings_.allow_http_webhooks); !why.empty()) {
          return fail(errors::kInvalidWebhookUrl, why);
        }
        c.webhook_url = url;
        if (c.webhook_secret.empty()) new_secret = "whsec_" + ids::random_hex(32);
      }
    }
  }
  bool rotate = false;
  if (auto e = boolean("rotateWebhookSecret", rotate); !e) return forward(e);
  if (rotate) {
    if (c.webhook_url.empty()) {
      return fail(errors::kInvalidWebhookUrl, "There is no webhook whose secret could rotate.");
    }
    new_secret = "whsec_" + ids::random_hex(32);
  }
  if (new_secret) c.webhook_secret = *new_secret;
  if (auto s = repo_.save_channels(user_id, c, phone, clock_.now_ms()); !s) return forward(s);
  auto saved = channels(user_id);
  if (!saved) return forward(saved);
  return Saved{*saved, new_secret};
}

Result<std::vector<Delivery>> NotificationService::list(std::optional<DeliveryState> state,
                                                        int limit,
                                                        std::optional<std::int64_t> before_id) {
  return repo_.list(state, limit, before_id);
}

Result<Delivery> NotificationService::retry(std::int64_t id) {
  auto revived = repo_.revive(id, clock_.now_ms());
  if (!revived) return forward(revived);
  auto d = repo_.find(id);
  if (!d) return forward(d);
  if (!*d) return fail(errors::kMissingDelivery);
  if (!*revived) return fail(errors::kDeliveryNotDead);
  return **d;
}

}  // namespace sp::notifications
