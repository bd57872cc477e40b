#pragma once
// The notifications worker's logic, free of HTTP, curl and SQLite: fan the outbox out to each
// recipient's channels with a rate limit and digests, send due deliveries through a Transport,
// retry with exponential back-off and jitter, mark dead after max_attempts.
//
// Delivery guarantee: the fan-out commits its deliveries together with the outbox cursor, so no
// outbox row is lost or fanned out twice. A delivery is marked sent only after its channel accepted
// it; a crash (kill -9) between the channel's acceptance and that commit re-sends it once on
// restart. That window is one send plus one SQLite commit (milliseconds); webhooks carry the
// delivery id (X-Smartproduct-Delivery) so receivers drop such a repeat; SMTP and SMS gateways
// have no such key.

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/notifications/types.hpp"
#include "smartproduct/store/notification_repository.hpp"

namespace sp::notifications {

/// Sends one message. Blocking; called on the worker thread. An error is retried (detail: why).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual bool email_available() const = 0;
  virtual bool sms_available() const = 0;
  virtual Result<void> email(std::string_view to, std::string_view subject,
                             std::string_view body) = 0;
  virtual Result<void> sms(std::string_view to, std::string_view text) = 0;
  /// POST `body` (JSON) to `url` with the signature headers made from `secret`.
  virtual Result<void> webhook(std::string_view url, std::string_view secret,
                               std::string_view delivery_id, std::string_view body) = 0;
};

/// The seed's SMS text (seed-behaviour.md §8.3) for an alert payload, "\n" line ends.
std::string alert_text(const nlohmann::json& payload);
/// The digest text: `held` more alerts of the group were held back during the window.
std::string digest_text(const nlohmann::json& last_payload, std::int64_t held,
                        std::int64_t window_s);
std::string test_text(std::int64_t now_ms);

/// "sha256=" + lowercase hex HMAC-SHA256(secret, timestamp + "." + body).
std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body);
/// The SMS gateway body: {{to}} and {{text}} replaced, JSON-escaped ("json") or
/// application/x-www-form-urlencoded ("form").
std::string render_sms_body(std::string_view body_template, std::string_view format,
                            std::string_view to, std::string_view text);
/// Empty when `url` is an acceptable webhook URL (https://host..., or http:// when allowed),
/// else the reason.
std::string check_webhook_url(std::string_view url, bool allow_http);

struct Stats {
  std::uint64_t fanned_out = 0;
  std::uint64_t held = 0;
  std::uint64_t digests = 0;
  std::uint64_t sent = 0;
  std::uint64_t failed_attempts = 0;
  std::uint64_t dead = 0;
};

class NotificationService {
 public:
  /// `random01` returns a number in [0, 1) for the jitter (tests pass a fixed one).
  NotificationService(store::NotificationRepository& repo, Transport& transport, const Clock& clock,
                      Settings settings, std::function<double()> random01 = {});

  /// One pass of the worker: fan out new outbox rows, emit due digests, send due deliveries.
  /// Returns true when work may remain (call again without waiting).
  Result<bool> tick();

  /// The delay before attempt `attempts + 1` after `attempts` failures (with jitter).
  std::int64_t backoff_ms(int attempts);

  /// Queues a test message for `user_id` (POST /api/notifications/test); the outbox row id.
  Result<std::int64_t> queue_test(std::string_view user_id);

  Result<Recipient> channels(std::string_view user_id);
  /// Applies a PUT body: emailEnabled, smsEnabled, phone, webhookUrl, rotateWebhookSecret.
  /// Returns the new settings and the new webhook secret when one was created (shown once).
  struct Saved {
    Recipient recipient;
    std::optional<std::string> new_secret;
  };
  Result<Saved> save_channels(std::string_view user_id, const nlohmann::json& body);

  Result<std::vector<Delivery>> list(std::optional<DeliveryState> state, int limit,
                                     std::optional<std::int64_t> before_id);
  /// A dead delivery back to pending; 404 unknown, 409 not dead.
  Result<Delivery> retry(std::int64_t id);

  Stats stats() const;
  const Settings& settings() const { return settings_; }

 private:
  Result<bool> fan_out();
  Result<bool> emit_digests();
  Result<bool> send_due();
  void add_deliveries(store::FanoutBatch& batch, const Recipient& r, std::string_view kind,
                      std::string_view group_key, std::optional<std::int64_t> outbox_id,
                      const std::string& text, const std::string& subject,
                      const nlohmann::json& webhook_doc, std::int64_t now);
  std::string new_delivery_id();

  store::NotificationRepository& repo_;
  Transport& transport_;
  const Clock& clock_;
  Settings settings_;
  std::function<double()> random01_;
  mutable std::mutex stats_mutex_;
  Stats stats_;
  std::set<std::string> unknown_kinds_logged_;
};

}  // namespace sp::notifications
