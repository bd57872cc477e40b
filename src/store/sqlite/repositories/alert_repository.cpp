#include "smartproduct/store/alert_repository.hpp"

#include <set>

#include "smartproduct/core/clock.hpp"
#include "store/sqlite/repositories/alert_sql.hpp"
#include "store/sqlite/repositories/event_rows.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {

using alerts::AckResult;
using alerts::AlertRecord;
using alerts::EventView;
using alerts::UserAlertSettings;
using events::EventRecord;

namespace {

// The owner's name for the device, from their newest registration of it.
std::string device_name_of(std::string_view alias) {
  const std::string a(alias);
  return "coalesce((SELECT r.device_name FROM registrations r WHERE r.device_id = " + a +
         ".device_id AND r.user_id = " + a + ".user_id ORDER BY r.id DESC LIMIT 1), '')";
}

// ":t1, :t2, ..." for an IN list of `n` bound types.
std::string type_params(std::size_t n) {
  std::string out;
  for (std::size_t i = 1; i <= n; ++i) {
    if (i > 1) out += ", ";
    out += ":t" + std::to_string(i);
  }
  return out;
}

void bind_types(Statement& s, const std::vector<std::string>& types) {
  for (std::size_t i = 0; i < types.size(); ++i) s.bind(":t" + std::to_string(i + 1), types[i]);
}

Result<UserAlertSettings> read_settings(Connection& conn, const std::string& user_id) {
  auto row =
      conn.query_value<std::string>("SELECT setting FROM settings WHERE setting_id = ?1", user_id);
  if (!row) return forward(row);
  if (!*row) return UserAlertSettings{};
  return UserAlertSettings::from_json(nlohmann::json::parse(**row, nullptr, false));
}

// Acknowledges a group and every event in it; counts what changed.
Result<void> ack_group(Connection& conn, std::int64_t alert_id, std::int64_t now_ms,
                       AckResult& result) {
  if (auto r = conn.execute(
          "UPDATE alerts SET ack = 1, acked_at = ?2, updated_at = ?2 WHERE id = ?1 AND ack = 0",
          alert_id, now_ms);
      !r) {
    return r;
  }
  result.alerts += conn.changes();
  if (auto r =
          conn.execute("UPDATE events SET ack = 1, updated_at = ?2 WHERE alert_id = ?1 AND ack = 0",
                       alert_id, now_ms);
      !r) {
    return r;
  }
  result.events += conn.changes();
  return {};
}

struct EventKeyRow {
  std::optional<std::string> user_id;
  std::string device_id;
  std::string type;
  std::optional<std::int64_t> alert_id;
};

// Marks one event read, and its group with the group's events.
Result<void> ack_event(Connection& conn, const std::string& event_id, const EventKeyRow& row,
                       std::int64_t now_ms, AckResult& result) {
  if (auto r = conn.execute("UPDATE events SET ack = 1, updated_at = ?2 WHERE id = ?1 AND ack = 0",
                            event_id, now_ms);
      !r) {
    return r;
  }
  result.events += conn.changes();
  if (row.alert_id) return ack_group(conn, *row.alert_id, now_ms, result);
  return {};
}

void add_user(AckResult& result, const std::optional<std::string>& user) {
  if (!user) return;
  for (const auto& u : result.users) {
    if (u == *user) return;
  }
  result.users.push_back(*user);
}

// ack_event, and the event's user among those to notify when it changed anything.
Result<void> ack_event_of_user(Connection& conn, const std::string& event_id,
                               const EventKeyRow& row, std::int64_t now_ms, AckResult& result) {
  const auto before = result.events + result.alerts;
  if (auto r = ack_event(conn, event_id, row, now_ms, result); !r) return r;
  if (result.events + result.alerts != before) add_user(result, row.user_id);
  return {};
}

// The columns user_id, device_id, type, alert_id of `stmt`'s row, from column `first`.
EventKeyRow read_event_key(Statement& stmt, int first) {
  return EventKeyRow{stmt.column<std::optional<std::string>>(first),
                     stmt.column<std::string>(first + 1), stmt.column<std::string>(first + 2),
                     stmt.column<std::optional<std::int64_t>>(first + 3)};
}

class SqliteAlertRepository final : public store::AlertRepository {
 public:
  explicit SqliteAlertRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::vector<EventView>> events(const store::EventListQuery& q) override {
    std::string sql = "SELECT " + event_columns("e.") + ", " + device_name_of("e") +
                      ", e.alert_id FROM events e WHERE 1 = 1";
    if (q.user_id) sql += " AND e.user_id = :user";
    if (q.device_id) sql += " AND e.device_id = :device";
    if (q.type) sql += " AND e.type = :type";
    if (q.after) sql += " AND (e.timestamp < :at OR (e.timestamp = :at AND e.id < :aid))";
    sql += " ORDER BY e.timestamp DESC, e.id DESC LIMIT :limit";
    return db_->read([&](Connection& conn) -> Result<std::vector<EventView>> {
      auto stmt = conn.prepare(sql);
      if (!stmt) return forward(stmt);
      if (q.user_id) stmt->bind(":user", *q.user_id);
      if (q.device_id) stmt->bind(":device", *q.device_id);
      if (q.type) stmt->bind(":type", *q.type);
      if (q.after) stmt->bind(":at", q.after->timestamp_ms).bind(":aid", q.after->id);
      stmt->bind(":limit", q.limit);
      std::vector<EventView> out;
      for (;;) {
        auto row = stmt->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.push_back(view_of(*stmt));
      }
      return out;
    });
  }

  Result<std::optional<EventView>> event(const std::string& device_id,
                                         const std::string& event_id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<EventView>> {
      return find_view(conn, device_id, event_id);
    });
  }

  Result<std::vector<AlertRecord>> alerts(const std::string& user_id,
                                          const std::vector<std::string>& types, int limit,
                                          const std::optional<alerts::AlertKey>& after) override {
    if (types.empty()) return std::vector<AlertRecord>{};
    std::string sql =
        "SELECT a.id, a.user_id, a.device_id, a.event_type, a.message, a.occurrences, "
        "a.first_event_id, a.first_seen_at, a.last_seen_at, a.ack, " +
        device_name_of("a") + ", " + event_columns("e.") +
        " FROM alerts a JOIN events e ON e.id = a.last_event_id "
        "WHERE a.user_id = :user AND a.ack = 0 AND a.event_type IN (" +
        type_params(types.size()) + ")";
    if (after) sql += " AND (a.last_seen_at < :at OR (a.last_seen_at = :at AND a.id < :aid))";
    sql += " ORDER BY a.last_seen_at DESC, a.id DESC LIMIT :limit";
    return db_->read([&](Connection& conn) -> Result<std::vector<AlertRecord>> {
      auto stmt = conn.prepare(sql);
      if (!stmt) return forward(stmt);
      stmt->bind(":user", user_id).bind(":limit", limit);
      bind_types(*stmt, types);
      if (after) stmt->bind(":at", after->last_seen_at_ms).bind(":aid", after->id);
      std::vector<AlertRecord> out;
      for (;;) {
        auto row = stmt->step();
        if (!row) return forward(row);
        if (!*row) break;
        AlertRecord a;
        a.id = stmt->column<std::int64_t>(0);
        a.user_id = stmt->column<std::string>(1);
        a.device_id = stmt->column<std::string>(2);
        a.event_type = stmt->column<std::string>(3);
        a.message = stmt->column<std::string>(4);
        a.occurrences = stmt->column<std::int64_t>(5);
        a.first_event_id = stmt->column<std::string>(6);
        a.first_seen_at_ms = stmt->column<std::int64_t>(7);
        a.last_seen_at_ms = stmt->column<std::int64_t>(8);
        a.ack = stmt->column<bool>(9);
        a.device_name = stmt->column<std::string>(10);
        a.last_event = read_event_row(*stmt, 11);
        out.push_back(std::move(a));
      }
      return out;
    });
  }

  Result<std::int64_t> count(const std::string& user_id,
                             const std::vector<std::string>& types) override {
    if (types.empty()) return std::int64_t{0};
    return db_->read([&](Connection& conn) -> Result<std::int64_t> {
      auto stmt = conn.prepare(alert_count_sql(types.size()));
      if (!stmt) return forward(stmt);
      stmt->bind(":user", user_id);
      bind_types(*stmt, types);
      auto row = stmt->step();
      if (!row) return forward(row);
      return *row ? stmt->column<std::int64_t>(0) : 0;
    });
  }

  Result<UserAlertSettings> settings(const std::string& user_id) override {
    return db_->read([&](Connection& conn) { return read_settings(conn, user_id); });
  }

  Result<std::optional<EventView>> update_event(const std::string& device_id,
                                                const std::string& event_id,
                                                const alerts::EventChange& change,
                                                std::int64_t now_ms, AckResult& result) override {
    bool found = false;
    AckResult changed;
    auto w = db_->write([&](Connection& conn) -> Result<void> {
      auto row = key_row(conn, device_id, event_id);
      if (!row) return forward(row);
      if (!*row) return {};
      found = true;
      const EventKeyRow& k = **row;
      if (change.ack) {
        if (*change.ack) {
          if (auto r = ack_event(conn, event_id, k, now_ms, changed); !r) return r;
        } else if (auto r = conn.execute(
                       "UPDATE events SET ack = 0, updated_at = ?2 WHERE id = ?1 AND ack = 1",
                       event_id, now_ms);
                   !r) {
          return r;
        } else {
          changed.events += conn.changes();
        }
      }
      if (change.suppress) {
        if (auto r = conn.execute("UPDATE events SET suppress = ?2, updated_at = ?3 WHERE id = ?1",
                                  event_id, *change.suppress ? 1 : 0, now_ms);
            !r) {
          return r;
        }
        if (k.user_id) {
          auto r = *change.suppress
                       ? conn.execute(
                             "INSERT INTO alert_suppressions (user_id, device_id, event_type, "
                             "until_ms, created_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                             "ON CONFLICT (user_id, device_id, event_type) DO UPDATE SET "
                             "until_ms = excluded.until_ms, created_at = excluded.created_at",
                             *k.user_id, k.device_id, k.type, change.suppress_until_ms, now_ms)
                       : conn.execute(
                             "DELETE FROM alert_suppressions WHERE user_id = ?1 AND "
                             "device_id = ?2 AND event_type = ?3",
                             *k.user_id, k.device_id, k.type);
          if (!r) return r;
        }
        add_user(changed, k.user_id);
      }
      if (changed.events > 0 || changed.alerts > 0) add_user(changed, k.user_id);
      return {};
    });
    if (!w) return forward(w);
    if (!found) return std::optional<EventView>{};
    result = std::move(changed);
    return event(device_id, event_id);
  }

  Result<AckResult> ack_events(const std::vector<std::string>& event_ids,
                               const std::optional<std::string>& only_user,
                               std::int64_t now_ms) override {
    AckResult result;
    auto w = db_->write([&](Connection& conn) -> Result<void> {
      result = {};
      for (const auto& id : event_ids) {
        auto stmt = conn.prepare(
            "SELECT user_id, device_id, type, alert_id FROM events WHERE id = ?1 AND "
            "(?2 IS NULL OR user_id = ?2)");
        if (!stmt) return forward(stmt);
        stmt->bind_all(id, only_user);
        auto row = stmt->step();
        if (!row) return forward(row);
        if (!*row) continue;
        if (auto r = ack_event_of_user(conn, id, read_event_key(*stmt, 0), now_ms, result); !r)
          return r;
      }
      return {};
    });
    if (!w) return forward(w);
    return result;
  }

  Result<AckResult> ack_by_message_id(const std::string& device_id, const std::string& message_id,
                                      std::int64_t now_ms) override {
    AckResult result;
    auto w = db_->write([&](Connection& conn) -> Result<void> {
      result = {};
      // Few rows (one per administrator): events_device_time narrows to the device.
      auto stmt = conn.prepare(
          "SELECT id, user_id, device_id, type, alert_id FROM events WHERE device_id = ?1 AND "
          "message_id = ?2 AND ack = 0");
      if (!stmt) return forward(stmt);
      stmt->bind_all(device_id, message_id);
      std::vector<std::pair<std::string, EventKeyRow>> rows;
      for (;;) {
        auto row = stmt->step();
        if (!row) return forward(row);
        if (!*row) break;
        rows.push_back({stmt->column<std::string>(0), read_event_key(*stmt, 1)});
      }
      stmt->reset();
      for (const auto& [id, k] : rows) {
        if (auto r = ack_event_of_user(conn, id, k, now_ms, result); !r) return r;
      }
      return {};
    });
    if (!w) return forward(w);
    return result;
  }

  Result<AckResult> ack_all(const std::string& user_id, const std::optional<std::string>& type,
                            std::int64_t now_ms) override {
    AckResult result;
    auto w = db_->write([&](Connection& conn) -> Result<void> {
      result = {};
      if (auto r = conn.execute(
              "UPDATE events SET ack = 1, updated_at = ?3 WHERE user_id = ?1 AND ack = 0 AND "
              "(?2 IS NULL OR type = ?2)",
              user_id, type, now_ms);
          !r) {
        return r;
      }
      result.events = conn.changes();
      if (auto r = conn.execute(
              "UPDATE alerts SET ack = 1, acked_at = ?3, updated_at = ?3 WHERE user_id = ?1 AND "
              "ack = 0 AND (?2 IS NULL OR event_type = ?2)",
              user_id, type, now_ms);
          !r) {
        return r;
      }
      result.alerts = conn.changes();
      if (result.events + result.alerts > 0) result.users.push_back(user_id);
      return {};
    });
    if (!w) return forward(w);
    return result;
  }

 private:
  static EventView view_of(const Statement& s) {
    EventView v;
    v.event = read_event_row(s, 0);
    v.device_name = s.column<std::string>(16);
    v.alert_id = s.column<std::optional<std::int64_t>>(17);
    return v;
  }

  static Result<std::optional<EventView>> find_view(Connection& conn, const std::string& device_id,
                                                    const std::string& event_id) {
    auto stmt = conn.prepare("SELECT " + event_columns("e.") + ", " + device_name_of("e") +
                             ", e.alert_id FROM events e WHERE e.device_id = ?1 AND e.id = ?2");
    if (!stmt) return forward(stmt);
    stmt->bind_all(device_id, event_id);
    auto row = stmt->step();
    if (!row) return forward(row);
    if (!*row) return std::optional<EventView>{};
    return std::optional<EventView>{view_of(*stmt)};
  }

  static Result<std::optional<EventKeyRow>> key_row(Connection& conn, const std::string& device_id,
                                                    const std::string& event_id) {
    auto stmt = conn.prepare(
        "SELECT user_id, device_id, type, alert_id FROM events WHERE device_id = ?1 AND id = ?2");
    if (!stmt) return forward(stmt);
    stmt->bind_all(device_id, event_id);
    auto row = stmt->step();
    if (!row) return forward(row);
    if (!*row) return std::optional<EventKeyRow>{};
    return std::optional<EventKeyRow>{read_event_key(*stmt, 0)};
  }

  std::shared_ptr<Database> db_;
};

}  // namespace

std::string alert_count_sql(std::size_t types) {
  return "SELECT count(*) FROM alerts WHERE user_id = :user AND ack = 0 AND event_type IN (" +
         type_params(types) + ")";
}

Result<void> record_alert_occurrence(Connection& conn, const EventRecord& e,
                                     const alerts::Grouping& grouping) {
  if (!e.user_id) return {};  // nobody owns the device: nobody to alert
  const std::string& user = *e.user_id;
  const std::int64_t now = e.created_at_ms;

  auto suppressed = conn.query_value<std::int64_t>(
      "SELECT 1 FROM alert_suppressions WHERE user_id = ?1 AND device_id = ?2 AND "
      "event_type = ?3 AND (until_ms IS NULL OR until_ms > ?4)",
      user, e.device_id, e.type, now);
  if (!suppressed) return forward(suppressed);
  if (*suppressed) return conn.execute("UPDATE events SET suppress = 1 WHERE id = ?1", e.id);

  auto open = conn.prepare(
      "SELECT id, occurrences FROM alerts WHERE user_id = ?1 AND device_id = ?2 AND "
      "event_type = ?3 AND message = ?4 AND ack = 0 AND last_seen_at >= ?5 "
      "ORDER BY last_seen_at DESC LIMIT 1");
  if (!open) return forward(open);
  open->bind_all(user, e.device_id, e.type, e.message, now - grouping.window_ms);
  auto row = open->step();
  if (!row) return forward(row);
  std::int64_t alert_id = 0;
  std::int64_t occurrences = 1;
  if (*row) {
    alert_id = open->column<std::int64_t>(0);
    occurrences = open->column<std::int64_t>(1) + 1;
    open->reset();
    if (auto r =
            conn.execute("UPDATE alerts SET occurrences = occurrences + 1, last_event_id = ?2, "
                         "last_seen_at = max(last_seen_at, ?3), updated_at = ?3 WHERE id = ?1",
                         alert_id, e.id, now);
        !r) {
      return r;
    }
  } else {
    open->reset();
    if (auto r = conn.execute(
            "INSERT INTO alerts (user_id, device_id, event_type, message, occurrences, "
            "first_event_id, last_event_id, first_seen_at, last_seen_at, updated_at) "
            "VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?6, ?6, ?6)",
            user, e.device_id, e.type, e.message, e.id, now);
        !r) {
      return r;
    }
    alert_id = conn.last_insert_rowid();
  }
  if (auto r = conn.execute("UPDATE events SET alert_id = ?2 WHERE id = ?1", e.id, alert_id); !r) {
    return r;
  }

  auto settings = read_settings(conn, user);
  if (!settings) return forward(settings);
  if (!alerts::should_notify(*settings, e.type)) return {};
  auto name = conn.query_value<std::string>(
      "SELECT device_name FROM registrations WHERE device_id = ?1 AND user_id = ?2 "
      "ORDER BY id DESC LIMIT 1",
      e.device_id, user);
  if (!name) return forward(name);
  nlohmann::json value = nullptr;
  if (e.details.is_object()) {
    if (auto v = e.details.find("value"); v != e.details.end()) value = *v;
  }
  const nlohmann::json payload = {{"alertId", alert_id},
                                  {"eventId", e.id},
                                  {"deviceId", e.device_id},
                                  {"deviceName", name->value_or(e.device_id)},
                                  {"eventType", e.type},
                                  {"message", e.message},
                                  {"value", value},
                                  {"createdAt", iso8601_ms(e.created_at_ms)},
                                  {"occurrences", occurrences}};
  return conn.execute(
      "INSERT INTO notification_outbox (user_id, device_id, kind, group_key, payload, created_at) "
      "VALUES (?1, ?2, 'alert', ?3, ?4, ?5)",
      user, e.device_id, e.device_id + "|" + e.type + "|" + e.message, payload.dump(), now);
}

std::unique_ptr<store::AlertRepository> make_alert_repository(std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteAlertRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
