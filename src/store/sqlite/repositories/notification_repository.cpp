#include "smartproduct/store/notification_repository.hpp"

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/notification_outbox.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {

Result<std::int64_t> insert_outbox(Connection& conn, const notifications::OutboxMessage& m) {
  auto s = conn.prepare(notifications::kOutboxInsertSql);
  if (!s) return forward(s);
  s->bind_all(m.user_id, m.device_id, m.kind, m.group_key, m.payload.dump(), m.created_at_ms);
  if (auto r = s->run(); !r) return forward(r);
  return conn.last_insert_rowid();
}

namespace {

using namespace sp::notifications;
using nlohmann::json;

constexpr const char* kDeliveryColumns =
    "id, delivery_id, outbox_id, user_id, channel, kind, group_key, target, subject, body, state, "
    "attempts, next_attempt_at, last_error, created_at, sent_at";

Result<std::vector<Delivery>> read_deliveries(Statement& s) {
  std::vector<Delivery> out;
  for (;;) {
    auto row = s.step();
    if (!row) return forward(row);
    if (!*row) return out;
    Delivery d;
    d.id = s.column<std::int64_t>(0);
    d.delivery_id = s.column<std::string>(1);
    d.outbox_id = s.column<std::optional<std::int64_t>>(2);
    d.user_id = s.column<std::string>(3);
    auto ch = channel_from(s.column<std::string>(4));
    d.kind = s.column<std::string>(5);
    d.group_key = s.column<std::string>(6);
    d.target = s.column<std::string>(7);
    d.subject = s.column<std::string>(8);
    d.body = s.column<std::string>(9);
    auto st = delivery_state_from(s.column<std::string>(10));
    if (!ch || !st) {
      return store::fail(store::Failure::kCorrupt, "a stored delivery cannot be read",
                         "delivery " + std::to_string(d.id));
    }
    d.channel = *ch;
    d.state = *st;
    d.attempts = s.column<int>(11);
    d.next_attempt_at_ms = s.column<std::int64_t>(12);
    d.last_error = s.column<std::string>(13);
    d.created_at_ms = s.column<std::int64_t>(14);
    d.sent_at_ms = s.column<std::optional<std::int64_t>>(15);
    out.push_back(std::move(d));
  }
}

Result<std::vector<Window>> read_windows(Statement& s) {
  std::vector<Window> out;
  for (;;) {
    auto row = s.step();
    if (!row) return forward(row);
    if (!*row) return out;
    Window w;
    w.user_id = s.column<std::string>(0);
    w.group_key = s.column<std::string>(1);
    w.kind = s.column<std::string>(2);
    w.start_ms = s.column<std::int64_t>(3);
    w.held = s.column<std::int64_t>(4);
    w.last_payload = json::parse(s.column<std::string>(5), nullptr, false);
    if (w.last_payload.is_discarded()) w.last_payload = json::object();
    out.push_back(std::move(w));
  }
}

class SqliteNotificationRepository final : public store::NotificationRepository {
 public:
  explicit SqliteNotificationRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::int64_t> cursor() override {
    return db_->read([&](Connection& conn) -> Result<std::int64_t> {
      auto v = conn.query_value<std::int64_t>(
          "SELECT last_outbox_id FROM notification_cursor WHERE id = 1");
      if (!v) return forward(v);
      return v->value_or(0);
    });
  }

  Result<store::NotificationBacklog> backlog() override {
    return db_->read([&](Connection& conn) -> Result<store::NotificationBacklog> {
      // Both counts walk an index (the outbox's id, deliveries' (state, id)) over waiting rows
      // only.
      auto s = conn.prepare(
          "SELECT (SELECT count(*) FROM notification_outbox WHERE id > "
          "(SELECT coalesce(max(last_outbox_id), 0) FROM notification_cursor WHERE id = 1)), "
          "(SELECT count(*) FROM notification_deliveries WHERE state = 'pending')");
      if (!s) return forward(s);
      auto row = s->step();
      if (!row) return forward(row);
      return store::NotificationBacklog{s->column_int64(0), s->column_int64(1)};
    });
  }

  Result<std::vector<OutboxRow>> outbox_after(std::int64_t id, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<OutboxRow>> {
      auto s = conn.prepare(
          "SELECT id, user_id, device_id, kind, group_key, payload, created_at "
          "FROM notification_outbox WHERE id > ?1 ORDER BY id LIMIT ?2");
      if (!s) return forward(s);
      s->bind_all(id, limit);
      std::vector<OutboxRow> out;
      for (;;) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) return out;
        OutboxRow r;
        r.id = s->column<std::int64_t>(0);
        r.user_id = s->column<std::string>(1);
        r.device_id = s->column<std::optional<std::string>>(2);
        r.kind = s->column<std::string>(3);
        r.group_key = s->column<std::string>(4);
        r.payload = json::parse(s->column<std::string>(5), nullptr, false);
        if (r.payload.is_discarded()) r.payload = json::object();  // CHECK json_valid forbids it
        r.created_at_ms = s->column<std::int64_t>(6);
        out.push_back(std::move(r));
      }
    });
  }

  Result<std::int64_t> insert_outbox(const OutboxMessage& m) override {
    std::int64_t id = 0;
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      auto v = sqlite::insert_outbox(conn, m);
      if (!v) return forward(v);
      id = *v;
      return {};
    });
    if (!r) return forward(r);
    return id;
  }

  Result<std::optional<Recipient>> recipient(std::string_view user_id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<Recipient>> {
      auto s = conn.prepare(
          "SELECT u.id, u.email, u.phone, u.enabled, c.email_enabled, c.sms_enabled, "
          "c.webhook_url, c.webhook_secret FROM users u "
          "LEFT JOIN notification_channels c ON c.user_id = u.id WHERE u.id = ?1");
      if (!s) return forward(s);
      s->bind_all(user_id);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<Recipient>{};
      Recipient r;
      r.user_id = s->column<std::string>(0);
      r.email = s->column<std::string>(1);
      r.phone = s->column<std::string>(2);
      r.enabled = s->column<bool>(3);
      if (!s->column_is_null(4)) {
        r.channels.email_enabled = s->column<bool>(4);
        r.channels.sms_enabled = s->column<bool>(5);
        r.channels.webhook_url = s->column<std::string>(6);
        r.channels.webhook_secret = s->column<std::string>(7);
      }
      return std::optional<Recipient>(std::move(r));
    });
  }

  Result<void> save_channels(std::string_view user_id, const ChannelSettings& c,
                             const std::optional<std::string>& phone,
                             std::int64_t now_ms) override {
    return db_->write([&](Connection& conn) -> Result<void> {
      if (phone) {
        // users.updated_at is in epoch seconds (identity's unit).
        if (auto r = conn.execute("UPDATE users SET phone = ?2, updated_at = ?3 WHERE id = ?1",
                                  user_id, *phone, now_ms / 1000);
            !r) {
          return forward(r);
        }
      }
      return conn.execute(
          "INSERT INTO notification_channels (user_id, email_enabled, sms_enabled, webhook_url, "
          "webhook_secret, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
          "ON CONFLICT (user_id) DO UPDATE SET email_enabled = excluded.email_enabled, "
          "sms_enabled = excluded.sms_enabled, webhook_url = excluded.webhook_url, "
          "webhook_secret = excluded.webhook_secret, updated_at = excluded.updated_at",
          user_id, c.email_enabled ? 1 : 0, c.sms_enabled ? 1 : 0, c.webhook_url, c.webhook_secret,
          now_ms);
    });
  }

  Result<std::optional<Window>> window(std::string_view user_id,
                                       std::string_view group_key) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<Window>> {
      auto s = conn.prepare(
          "SELECT user_id, group_key, kind, window_start, held, last_payload "
          "FROM notification_windows WHERE user_id = ?1 AND group_key = ?2");
      if (!s) return forward(s);
      s->bind_all(user_id, group_key);
      auto rows = read_windows(*s);
      if (!rows) return forward(rows);
      if (rows->empty()) return std::optional<Window>{};
      return std::optional<Window>(std::move(rows->front()));
    });
  }

  Result<std::vector<Window>> windows_started_before(std::int64_t before_ms, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<Window>> {
      auto s = conn.prepare(
          "SELECT user_id, group_key, kind, window_start, held, last_payload "
          "FROM notification_windows WHERE window_start <= ?1 ORDER BY window_start LIMIT ?2");
      if (!s) return forward(s);
      s->bind_all(before_ms, limit);
      return read_windows(*s);
    });
  }

  Result<void> commit_fanout(const store::FanoutBatch& b) override {
    return db_->write([&](Connection& conn) -> Result<void> {
      for (const auto& d : b.deliveries) {
        auto r = conn.execute(
            "INSERT INTO notification_deliveries (delivery_id, outbox_id, user_id, channel, kind, "
            "group_key, target, subject, body, state, attempts, next_attempt_at, last_error, "
            "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 0, ?10, '', ?11)",
            d.delivery_id, d.outbox_id, d.user_id, std::string(to_string(d.channel)), d.kind,
            d.group_key, d.target, d.subject, d.body, d.next_attempt_at_ms, d.created_at_ms);
        if (!r) return forward(r);
      }
      for (const auto& [user, group] : b.window_deletes) {
        auto r = conn.execute(
            "DELETE FROM notification_windows WHERE user_id = ?1 AND group_key = ?2", user, group);
        if (!r) return forward(r);
      }
      for (const auto& w : b.window_upserts) {
        auto r = conn.execute(
            "INSERT INTO notification_windows (user_id, group_key, kind, window_start, held, "
            "last_payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (user_id, group_key) DO "
            "UPDATE SET kind = excluded.kind, window_start = excluded.window_start, "
            "held = excluded.held, last_payload = excluded.last_payload",
            w.user_id, w.group_key, w.kind, w.start_ms, w.held, w.last_payload.dump());
        if (!r) return forward(r);
      }
      // Only forward: a digest-only batch carries the cursor it read.
      return conn.execute(
          "UPDATE notification_cursor SET last_outbox_id = max(last_outbox_id, ?1) WHERE id = 1",
          b.cursor);
    });
  }

  Result<std::vector<Delivery>> due(std::int64_t now_ms, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<Delivery>> {
      auto s = conn.prepare(std::string("SELECT ") + kDeliveryColumns +
                            " FROM notification_deliveries WHERE state = 'pending' AND "
                            "next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2");
      if (!s) return forward(s);
      s->bind_all(now_ms, limit);
      return read_deliveries(*s);
    });
  }

  Result<void> mark_sent(std::int64_t id, int attempts, std::int64_t now_ms) override {
    return db_->write([&](Connection& conn) {
      return conn.execute(
          "UPDATE notification_deliveries SET state = 'sent', attempts = ?2, sent_at = ?3, "
          "last_error = '' WHERE id = ?1 AND state = 'pending'",
          id, attempts, now_ms);
    });
  }

  Result<void> mark_retry(std::int64_t id, int attempts, std::int64_t next_ms,
                          std::string_view error) override {
    return db_->write([&](Connection& conn) {
      return conn.execute(
          "UPDATE notification_deliveries SET attempts = ?2, next_attempt_at = ?3, "
          "last_error = ?4 WHERE id = ?1 AND state = 'pending'",
          id, attempts, next_ms, error);
    });
  }

  Result<void> mark_dead(std::int64_t id, int attempts, std::string_view error) override {
    return db_->write([&](Connection& conn) {
      return conn.execute(
          "UPDATE notification_deliveries SET state = 'dead', attempts = ?2, last_error = ?3 "
          "WHERE id = ?1 AND state = 'pending'",
          id, attempts, error);
    });
  }

  Result<std::vector<Delivery>> list(std::optional<DeliveryState> state, int limit,
                                     std::optional<std::int64_t> before_id) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<Delivery>> {
      auto s = conn.prepare(std::string("SELECT ") + kDeliveryColumns +
                            " FROM notification_deliveries WHERE (?1 IS NULL OR state = ?1) AND "
                            "(?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3");
      if (!s) return forward(s);
      std::optional<std::string> st;
      if (state) st = std::string(to_string(*state));
      s->bind_all(st, before_id, limit);
      return read_deliveries(*s);
    });
  }

  Result<std::optional<Delivery>> find(std::int64_t id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<Delivery>> {
      auto s = conn.prepare(std::string("SELECT ") + kDeliveryColumns +
                            " FROM notification_deliveries WHERE id = ?1");
      if (!s) return forward(s);
      s->bind_all(id);
      auto rows = read_deliveries(*s);
      if (!rows) return forward(rows);
      if (rows->empty()) return std::optional<Delivery>{};
      return std::optional<Delivery>(std::move(rows->front()));
    });
  }

  Result<bool> revive(std::int64_t id, std::int64_t now_ms) override {
    bool changed = false;
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      auto e = conn.execute(
          "UPDATE notification_deliveries SET state = 'pending', attempts = 0, "
          "next_attempt_at = ?2 WHERE id = ?1 AND state = 'dead'",
          id, now_ms);
      if (!e) return e;
      changed = conn.changes() > 0;
      return {};
    });
    if (!r) return forward(r);
    return changed;
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::NotificationRepository> make_notification_repository(
    std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteNotificationRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
