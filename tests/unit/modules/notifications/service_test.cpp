// The notifications worker over the real SQLite repository (a fresh main database), a fake
// transport and a fixed clock: fan-out per channel choice, the seed's SMS text, the rate limit and
// its digest, back-off with jitter, dead deliveries and their retry, no duplicate across a
// "restart" (a new service over the same database), channel settings validation.

#include "smartproduct/notifications/service.hpp"

#include <gtest/gtest.h>

#include "../../store/main_db.hpp"
#include "fakes/fixed_clock.hpp"
#include "store/sqlite/repositories/notification_outbox.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::notifications {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct Sent {
  std::string channel, to, subject, body, secret, delivery_id;
};

class FakeTransport final : public Transport {
 public:
  bool email_available() const override { return email_on; }
  bool sms_available() const override { return sms_on; }
  Result<void> email(std::string_view to, std::string_view subject,
                     std::string_view body) override {
    return record({"email", std::string(to), std::string(subject), std::string(body), "", ""});
  }
  Result<void> sms(std::string_view to, std::string_view text) override {
    return record({"sms", std::string(to), "", std::string(text), "", ""});
  }
  Result<void> webhook(std::string_view url, std::string_view secret, std::string_view id,
                       std::string_view body) override {
    return record(
        {"webhook", std::string(url), "", std::string(body), std::string(secret), std::string(id)});
  }
  Result<void> record(Sent s) {
    ++calls;
    if (down)
      return fail(ErrorKind::kUnavailable, "ChannelUnavailable", "down", "connection refused");
    sent.push_back(std::move(s));
    return {};
  }
  bool email_on = true;
  bool sms_on = true;
  bool down = false;
  int calls = 0;
  std::vector<Sent> sent;
};

json alert_payload(int n = 1) {
  return {{"alertId", "A1"},      {"eventId", "E" + std::to_string(n)},
          {"deviceId", "SN1"},    {"deviceName", "Living room"},
          {"eventType", "error"}, {"message", "Temperature out of band"},
          {"value", 104.5},       {"createdAt", "2023-11-14T22:13:20.000Z"},
          {"occurrences", n}};
}

class NotificationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = sqlite::make_notification_repository(db_);
    add_user("alice", "alice@example.com", "+15551234567");
    settings_.max_attempts = 4;
    settings_.window_s = 600;
    settings_.backoff_base_ms = 1000;
    settings_.backoff_max_ms = 5000;
    make_service();
  }

  void make_service() {
    service_ = std::make_unique<NotificationService>(*repo_, transport_, clock_, settings_,
                                                     [] { return 0.5; });
  }

  void add_user(const std::string& id, const std::string& email, const std::string& phone) {
    auto r = db_->write([&](sqlite::Connection& c) {
      return c.execute(
          "INSERT INTO users (id, email, password_hash, role, enabled, email_verified, name, "
          "phone, created_at, updated_at) VALUES (?1, ?2, 'x', 'user', 1, 1, 'n', ?3, 0, 0)",
          id, email, phone);
    });
    ASSERT_TRUE(r) << r.error().message << r.error().detail;
  }

  // As a producer does: inside its own write transaction.
  void produce(const std::string& user, const std::string& kind, const std::string& group,
               const json& payload) {
    OutboxMessage m{user, std::string("SN1"), kind, group, payload, clock_.now_ms()};
    auto r = db_->write([&](sqlite::Connection& c) -> Result<void> {
      auto id = sqlite::insert_outbox(c, m);
      if (!id) return tl::unexpected(id.error());
      return {};
    });
    ASSERT_TRUE(r) << r.error().message << r.error().detail;
  }

  void alert(int n = 1) {
    produce("alice", "alert", alert_group_key("SN1", "error", "Temperature out of band"),
            alert_payload(n));
  }

  void run() {
    for (int i = 0; i < 10; ++i) {
      auto r = service_->tick();
      ASSERT_TRUE(r) << r.error().message << r.error().detail;
      if (!*r) return;
    }
  }

  std::vector<Delivery> deliveries(std::optional<DeliveryState> s = std::nullopt) {
    auto r = service_->list(s, 100, std::nullopt);
    EXPECT_TRUE(r);
    return r ? *r : std::vector<Delivery>{};
  }

  void set_channels(const json& body) {
    auto r = service_->save_channels("alice", body);
    ASSERT_TRUE(r) << r.error().message;
  }

  sqlite::test::TempDir dir_;
  std::shared_ptr<sqlite::Database> db_;
  std::unique_ptr<store::NotificationRepository> repo_;
  test::FixedClock clock_;
  FakeTransport transport_;
  Settings settings_;
  std::unique_ptr<NotificationService> service_;
};

TEST(NotificationText, AlertIsTheSeedsSmsText) {
  EXPECT_EQ(alert_text(alert_payload()),
            "** Smart Product Event Alert **\n"
            "You have a new error event.\n"
            "\n"
            "* Device: Living room\n"
            "* Time: 2023-11-14T22:13:20.000Z\n"
            "* Message: Temperature out of band\n"
            "* Value: 104.5");
  json p = alert_payload();
  p["value"] = nullptr;
  EXPECT_TRUE(alert_text(p).ends_with("* Value: n/a"));
}

TEST(NotificationText, DigestCountsHeldMessages) {
  const std::string t = digest_text(alert_payload(), 4, 600);
  EXPECT_TRUE(
      t.starts_with("** Smart Product Event Alert **\n4 more alerts like this in the "
                    "last 10 minutes.\n\n* Device: Living room\n"))
      << t;
  EXPECT_NE(
      digest_text(alert_payload(), 1, 60).find("1 more alert like this in the last 1 minute."),
      std::string::npos);
}

TEST(NotificationText, WebhookSignatureIsHmacSha256OfTimestampDotBody) {
  // python3: hmac.new(b'whsec_test', b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
  EXPECT_EQ(webhook_signature("whsec_test", "1700000000", R"({"a":1})"),
            "sha256=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
  EXPECT_NE(webhook_signature("whsec_test", "1700000001", R"({"a":1})"),
            webhook_signature("whsec_test", "1700000000", R"({"a":1})"));
}

TEST(NotificationText, SmsBodyTemplateEscapesPerFormat) {
  EXPECT_EQ(
      render_sms_body(R"({"to":"{{to}}","text":"{{text}}"})", "json", "+1555", "a \"b\"\nc {{to}}"),
      R"({"to":"+1555","text":"a \"b\"\nc {{to}}"})");
  EXPECT_EQ(render_sms_body("To={{to}}&Body={{text}}", "form", "+1555", "a b&c=d\n*"),
            "To=%2B1555&Body=a+b%26c%3Dd%0A%2A");
}

TEST(NotificationText, WebhookUrlsMustBeHttpsUnlessAllowed) {
  EXPECT_EQ(check_webhook_url("https://hooks.example.com/x?y=1", false), "");
  EXPECT_NE(check_webhook_url("http://hooks.example.com/x", false), "");
  EXPECT_EQ(check_webhook_url("http://127.0.0.1:8080/x", true), "");
  EXPECT_NE(check_webhook_url("ftp://example.com/", true), "");
  EXPECT_NE(check_webhook_url("https:///path", false), "");
  EXPECT_NE(check_webhook_url("https://user:pw@example.com/", false), "");
  EXPECT_NE(check_webhook_url("https://example.com/a b", false), "");
}

TEST_F(NotificationServiceTest, TestMessageGoesToEveryEnabledChannelOnce) {
  auto saved = service_->save_channels(
      "alice", json{{"smsEnabled", true}, {"webhookUrl", "https://hooks.example.com/in"}});
  ASSERT_TRUE(saved);
  ASSERT_TRUE(saved->new_secret);  // shown once
  ASSERT_TRUE(service_->queue_test("alice"));
  run();
  run();
  ASSERT_EQ(transport_.sent.size(), 3u);
  EXPECT_EQ(transport_.sent[0].channel, "email");
  EXPECT_EQ(transport_.sent[0].to, "alice@example.com");
  EXPECT_EQ(transport_.sent[0].subject, "Smart Product test notification");
  EXPECT_EQ(transport_.sent[1].channel, "sms");
  EXPECT_EQ(transport_.sent[1].to, "+15551234567");
  EXPECT_EQ(transport_.sent[2].channel, "webhook");
  EXPECT_EQ(transport_.sent[2].secret, *saved->new_secret);
  const json doc = json::parse(transport_.sent[2].body);
  EXPECT_EQ(doc["kind"], "test");
  EXPECT_EQ(doc["deliveryId"], transport_.sent[2].delivery_id);
  for (const auto& d : deliveries()) EXPECT_EQ(d.state, DeliveryState::kSent);
}

TEST_F(NotificationServiceTest, AlertUsesTheSeedTextAndRespectsChoices) {
  set_channels({{"emailEnabled", false}, {"smsEnabled", true}});
  alert();
  run();
  ASSERT_EQ(transport_.sent.size(), 1u);
  EXPECT_EQ(transport_.sent[0].channel, "sms");
  EXPECT_EQ(transport_.sent[0].body, alert_text(alert_payload()));
}

TEST_F(NotificationServiceTest, RateLimitHoldsRepeatsAndSendsOneDigest) {
  alert(1);
  run();
  for (int i = 2; i <= 30; ++i) {
    clock_.advance(10s);
    alert(i);
    run();
  }
  ASSERT_EQ(transport_.sent.size(), 1u);  // 29 held inside the 600 s window
  clock_.set(test::FixedClock::kDefaultNowMs + 600'000);
  run();
  ASSERT_EQ(transport_.sent.size(), 2u);
  EXPECT_NE(transport_.sent[1].body.find("29 more alerts like this in the last 10 minutes."),
            std::string::npos)
      << transport_.sent[1].body;
  EXPECT_NE(transport_.sent[1].body.find("* Last time: 2023-11-14T22:13:20.000Z"),
            std::string::npos);
  EXPECT_EQ(transport_.sent[1].subject, "Smart Product Event Alert: error on Living room (digest)");
  // The window is closed: the next alert goes out at once, and only one digest was ever made.
  clock_.advance(1s);
  alert(31);
  run();
  ASSERT_EQ(transport_.sent.size(), 3u);
  EXPECT_EQ(transport_.sent[2].body, alert_text(alert_payload(31)));
  clock_.advance(601s);
  run();
  EXPECT_EQ(transport_.sent.size(), 3u);  // nothing held: no digest
}

TEST_F(NotificationServiceTest, OtherGroupsAndUsersAreNotHeldBack) {
  add_user("bob", "bob@example.com", "");
  alert();
  produce("alice", "alert", alert_group_key("SN1", "warning", "Low"), alert_payload());
  produce("bob", "alert", alert_group_key("SN1", "error", "Temperature out of band"),
          alert_payload());
  run();
  EXPECT_EQ(transport_.sent.size(), 3u);
}

TEST_F(NotificationServiceTest, BackoffGrowsWithJitterAndEndsDead) {
  EXPECT_EQ(service_->backoff_ms(1), 750);  // 1000 * (0.5 + 0.5 * 0.5)
  EXPECT_EQ(service_->backoff_ms(2), 1500);
  EXPECT_EQ(service_->backoff_ms(3), 3000);
  EXPECT_EQ(service_->backoff_ms(4), 3750);  // capped at 5000
  auto random = std::make_unique<NotificationService>(*repo_, transport_, clock_, settings_);
  for (int i = 0; i < 50; ++i) {
    const auto b = random->backoff_ms(2);
    EXPECT_GE(b, 1000);
    EXPECT_LE(b, 2000);
  }

  transport_.down = true;
  alert();
  run();
  auto d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].attempts, 1);
  EXPECT_EQ(d[0].next_attempt_at_ms, clock_.now_ms() + 750);
  EXPECT_EQ(d[0].last_error, "connection refused");
  run();  // not due yet
  EXPECT_EQ(transport_.calls, 1);
  for (int attempt = 2; attempt <= 4; ++attempt) {
    clock_.set(deliveries()[0].next_attempt_at_ms);
    run();
    EXPECT_EQ(transport_.calls, attempt);
  }
  d = deliveries(DeliveryState::kDead);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].attempts, 4);
  clock_.advance(1h);
  run();
  EXPECT_EQ(transport_.calls, 4);  // dead stays dead

  transport_.down = false;
  auto revived = service_->retry(d[0].id);
  ASSERT_TRUE(revived);
  EXPECT_EQ(revived->state, DeliveryState::kPending);
  EXPECT_EQ(revived->attempts, 0);
  run();
  ASSERT_EQ(transport_.sent.size(), 1u);
  EXPECT_EQ(deliveries(DeliveryState::kSent).size(), 1u);
  auto again = service_->retry(d[0].id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().name, "DeliveryNotDead");
  auto missing = service_->retry(999);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().name, "MissingDelivery");
}

TEST_F(NotificationServiceTest, ARestartNeitherLosesNorRepeats) {
  transport_.down = true;
  for (int i = 1; i <= 3; ++i) {
    produce("alice", "alert", "group-" + std::to_string(i), alert_payload(i));
  }
  run();
  EXPECT_EQ(deliveries().size(), 3u);
  // "Restart": a new service over the same database (the windows and cursor are stored).
  service_.reset();
  make_service();
  run();
  EXPECT_EQ(deliveries().size(), 3u);  // not fanned out twice
  transport_.down = false;
  clock_.advance(1min);
  run();
  ASSERT_EQ(transport_.sent.size(), 3u);
  for (const auto& d : deliveries()) {
    EXPECT_EQ(d.state, DeliveryState::kSent);
    EXPECT_EQ(d.attempts, 2);  // one failure before the restart, one success after
  }
  clock_.advance(1h);
  run();
  EXPECT_EQ(transport_.sent.size(), 3u);
}

TEST_F(NotificationServiceTest, UnknownKindsAndUnknownUsersAreSkipped) {
  produce("alice", "audit", "x", json::object());
  produce("nobody", "alert", "x", alert_payload());
  alert();
  run();
  EXPECT_EQ(transport_.sent.size(), 1u);
  auto cursor = repo_->cursor();
  ASSERT_TRUE(cursor);
  EXPECT_EQ(*cursor, 3);
}

TEST_F(NotificationServiceTest, ChannelSettingsAreValidated) {
  auto bad_url = service_->save_channels("alice", {{"webhookUrl", "http://hooks.example.com/"}});
  ASSERT_FALSE(bad_url);
  EXPECT_EQ(bad_url.error().name, "InvalidWebhookUrl");
  auto bad_type = service_->save_channels("alice", {{"emailEnabled", "yes"}});
  ASSERT_FALSE(bad_type);
  EXPECT_EQ(bad_type.error().name, "InvalidField");
  auto bad_phone = service_->save_channels("alice", {{"phone", "555-1234"}});
  ASSERT_FALSE(bad_phone);
  EXPECT_EQ(bad_phone.error().name, "InvalidPhone");
  auto no_phone = service_->save_channels("alice", {{"phone", ""}, {"smsEnabled", true}});
  ASSERT_FALSE(no_phone);
  EXPECT_EQ(no_phone.error().name, "InvalidPhone");

  auto first = service_->save_channels(
      "alice", {{"webhookUrl", "https://a.example.com/"}, {"phone", "+447700900123"}});
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->new_secret);
  EXPECT_EQ(first->recipient.phone, "+447700900123");
  // Changing the URL keeps the secret (not shown again); rotating makes a new one.
  auto moved = service_->save_channels("alice", {{"webhookUrl", "https://b.example.com/"}});
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->new_secret);
  EXPECT_EQ(moved->recipient.channels.webhook_secret, *first->new_secret);
  auto rotated = service_->save_channels("alice", {{"rotateWebhookSecret", true}});
  ASSERT_TRUE(rotated && rotated->new_secret);
  EXPECT_NE(*rotated->new_secret, *first->new_secret);
  auto removed = service_->save_channels("alice", {{"webhookUrl", nullptr}});
  ASSERT_TRUE(removed);
  EXPECT_TRUE(removed->recipient.channels.webhook_url.empty());
  EXPECT_TRUE(removed->recipient.channels.webhook_secret.empty());
}

TEST_F(NotificationServiceTest, AdminWebhookGetsEveryMessage) {
  settings_.admin_webhook_url = "https://ops.example.com/hook";
  settings_.admin_webhook_secret = "admin-secret-0123456789";
  make_service();
  set_channels({{"emailEnabled", false}});
  alert();
  run();
  ASSERT_EQ(transport_.sent.size(), 1u);
  EXPECT_EQ(transport_.sent[0].to, "https://ops.example.com/hook");
  EXPECT_EQ(transport_.sent[0].secret, "admin-secret-0123456789");
  EXPECT_EQ(json::parse(transport_.sent[0].body)["payload"]["deviceName"], "Living room");
}

}  // namespace
}  // namespace sp::notifications
