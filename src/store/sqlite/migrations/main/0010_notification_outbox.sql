-- Notifications waiting to go out: the transactional outbox (issue 13). A producer (the alerts
-- writer, the "send test notification" route, later the audit) inserts one row in the SAME
-- transaction as the fact it announces, so a crash can neither lose the notification of a committed
-- alert nor announce an alert that was rolled back. The notifications worker owns everything after
-- the insert: it fans the row out to the recipient's channels and keeps each channel's attempts,
-- back-off and final state in its own tables. Producers never update or delete a row.
--
-- Contract with producers (kept in include/smartproduct/notifications/outbox.hpp):
--   user_id    recipient account id (users.id);
--   device_id  the device the message is about, NULL when none;
--   kind       'alert' | 'test' | later kinds; the worker ignores kinds it does not know (logs once);
--   group_key  rate-limit key: at most one message per (user_id, group_key) per window goes out,
--              held-back ones go into a digest. Alerts use '<deviceId>|<eventType>|<message>';
--   payload    JSON object; for 'alert': alertId, eventId, deviceId, deviceName, eventType, message,
--              value (details.value or null), createdAt (ISO-8601 UTC of the event), occurrences;
--   created_at epoch milliseconds.
CREATE TABLE notification_outbox (
  id         INTEGER PRIMARY KEY,
  user_id    TEXT    NOT NULL,
  device_id  TEXT,
  kind       TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
  group_key  TEXT    NOT NULL,
  payload    TEXT    NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
  created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX notification_outbox_user_group ON notification_outbox (user_id, group_key, created_at);
