#pragma once
// The notifications module's data: deliveries (one message on one channel), a user's channel
// choices, the rate-limit windows and the settings of [notifications].

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sp::notifications {

enum class Channel { kEmail, kSms, kWebhook, kAdminWebhook };
enum class DeliveryState { kPending, kSent, kDead };

std::string_view to_string(Channel c);
std::string_view to_string(DeliveryState s);
std::optional<Channel> channel_from(std::string_view text);
std::optional<DeliveryState> delivery_state_from(std::string_view text);

/// An outbox row as the worker reads it.
struct OutboxRow {
  std::int64_t id = 0;
  std::string user_id;
  std::optional<std::string> device_id;
  std::string kind;
  std::string group_key;
  nlohmann::json payload;
  std::int64_t created_at_ms = 0;
};

struct Delivery {
  std::int64_t id = 0;                    // rowid (set by the store)
  std::string delivery_id;                // idempotency key (webhooks: X-Smartproduct-Delivery)
  std::optional<std::int64_t> outbox_id;  // nullopt for digests
  std::string user_id;
  Channel channel = Channel::kEmail;
  std::string kind;  // alert | test | digest
  std::string group_key;
  std::string target;   // email address, E.164 phone number or URL
  std::string subject;  // email only
  std::string body;     // text (email, SMS) or JSON (webhooks)
  DeliveryState state = DeliveryState::kPending;
  int attempts = 0;
  std::int64_t next_attempt_at_ms = 0;
  std::string last_error;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> sent_at_ms;
};

/// A user's channels. Defaults (no stored row): email on, SMS off, no webhook.
struct ChannelSettings {
  bool email_enabled = true;
  bool sms_enabled = false;
  std::string webhook_url;
  std::string webhook_secret;  // never logged; shown once when created
};

/// The recipient of an outbox row: the account plus its channel choices.
struct Recipient {
  std::string user_id;
  std::string email;
  std::string phone;  // E.164 or empty
  bool enabled = true;
  ChannelSettings channels;
};

/// The open rate-limit window of (user_id, group_key).
struct Window {
  std::string user_id;
  std::string group_key;
  std::string kind;
  std::int64_t start_ms = 0;
  std::int64_t held = 0;
  nlohmann::json last_payload = nlohmann::json::object();
};

struct SmsGateway {
  std::string url;              // empty: SMS is off for everybody
  std::string auth_header;      // a whole header line, e.g. "Authorization: Basic ..." (a secret)
  std::string format = "json";  // json | form
  /// Body with {{to}} and {{text}} placeholders (JSON-escaped or form-encoded per `format`).
  std::string body_template = R"({"to":"{{to}}","text":"{{text}}"})";
};

/// [notifications]
struct Settings {
  int max_attempts = 8;
  std::int64_t window_s = 600;
  std::int64_t backoff_base_ms = 2000;
  std::int64_t backoff_max_ms = 3600 * 1000;
  std::int64_t poll_ms = 500;
  std::int64_t send_timeout_s = 15;
  bool allow_http_webhooks = false;
  std::string admin_webhook_url;
  std::string admin_webhook_secret;
  SmsGateway sms;
};

}  // namespace sp::notifications
