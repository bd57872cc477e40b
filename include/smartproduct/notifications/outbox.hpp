#pragma once
// The notification outbox contract for producers (migration 0010_notification_outbox.sql).
//
// A producer (the alerts writer, the "send test notification" route, ...) inserts ONE row into
// notification_outbox in the SAME transaction as the fact it announces; a crash then can neither
// lose the notification of a committed alert nor announce one that was rolled back. Producers never
// update or delete outbox rows. The notifications worker reads them in id order, fans each out to
// the recipient's channels (email, SMS, webhook, the admin-wide webhook), rate-limits per
// (user_id, group_key) and keeps every attempt in its own tables.
//
// Inside a write job of the main database (src/store/sqlite), a producer writes:
//   sqlite::insert_outbox(conn, notifications::alert_message(...));   //
//   repositories/notification_outbox.hpp
// or prepares kOutboxInsertSql itself and binds the six values in order.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sp::notifications {

/// Kinds the worker knows. Others are skipped (logged once per kind).
inline constexpr std::string_view kKindAlert = "alert";
inline constexpr std::string_view kKindTest = "test";

/// ?1 user_id, ?2 device_id (NULL when none), ?3 kind, ?4 group_key, ?5 payload (a JSON object as
/// text), ?6 created_at (epoch ms).
inline constexpr const char* kOutboxInsertSql =
    "INSERT INTO notification_outbox (user_id, device_id, kind, group_key, payload, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// One outbox row as a producer writes it.
struct OutboxMessage {
  std::string user_id;                   // recipient (users.id)
  std::optional<std::string> device_id;  // the device the message is about
  std::string kind;                      // kKindAlert, kKindTest, ...
  std::string group_key;                 // rate-limit key (see alert_group_key)
  nlohmann::json payload = nlohmann::json::object();
  std::int64_t created_at_ms = 0;
};

/// The rate-limit key of an alert: "<deviceId>|<eventType>|<message>" (one message per window per
/// user for the same device, type and text).
inline std::string alert_group_key(std::string_view device_id, std::string_view event_type,
                                   std::string_view message) {
  std::string k;
  k.reserve(device_id.size() + event_type.size() + message.size() + 2);
  k.append(device_id).append("|").append(event_type).append("|").append(message);
  return k;
}

/// What an alert announces (payload fields of kind 'alert').
struct AlertFields {
  std::string alert_id;
  std::string event_id;
  std::string device_id;
  std::string device_name;
  std::string event_type;  // error | warning | info | diagnostic
  std::string message;
  nlohmann::json value;    // details.value, or null
  std::string created_at;  // ISO-8601 UTC of the event (sp::iso8601_ms)
  std::int64_t occurrences = 1;
};

/// The outbox row of an alert for `user_id`, created at `now_ms`.
inline OutboxMessage alert_message(std::string user_id, const AlertFields& a, std::int64_t now_ms) {
  OutboxMessage m;
  m.user_id = std::move(user_id);
  m.device_id = a.device_id;
  m.kind = std::string(kKindAlert);
  m.group_key = alert_group_key(a.device_id, a.event_type, a.message);
  m.payload = {{"alertId", a.alert_id},
               {"eventId", a.event_id},
               {"deviceId", a.device_id},
               {"deviceName", a.device_name},
               {"eventType", a.event_type},
               {"message", a.message},
               {"value", a.value},
               {"createdAt", a.created_at},
               {"occurrences", a.occurrences}};
  m.created_at_ms = now_ms;
  return m;
}

}  // namespace sp::notifications
