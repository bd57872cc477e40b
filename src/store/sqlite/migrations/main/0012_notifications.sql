-- The notifications worker's own state (issue 13). It reads notification_outbox (0010, written
-- by producers) in id order; everything after that is here, written only by the worker and the
-- notifications routes.

-- How far the worker has fanned the outbox out: outbox rows with id <= last_outbox_id have their
-- deliveries (or their rate-limit bookkeeping) committed. Advanced in the SAME transaction as the
-- deliveries it creates, so a crash neither loses nor duplicates a fan-out.
CREATE TABLE notification_cursor (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  last_outbox_id INTEGER NOT NULL
) STRICT;
INSERT INTO notification_cursor (id, last_outbox_id) VALUES (1, 0);

-- One message on one channel. outbox_id is NULL for digests. delivery_id is the idempotency key
-- sent to webhooks (X-Smartproduct-Delivery). body is the rendered text (email, SMS) or the JSON
-- document (webhooks); target is the address, phone number or URL it goes to (secrets are read at
-- send time, never stored here).
CREATE TABLE notification_deliveries (
  id              INTEGER PRIMARY KEY,
  delivery_id     TEXT    NOT NULL UNIQUE,
  outbox_id       INTEGER,
  user_id         TEXT    NOT NULL,
  channel         TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'webhook', 'admin_webhook')),
  kind            TEXT    NOT NULL,
  group_key       TEXT    NOT NULL,
  target          TEXT    NOT NULL,
  subject         TEXT    NOT NULL DEFAULT '',
  body            TEXT    NOT NULL,
  state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT    NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  sent_at         INTEGER,
  UNIQUE (outbox_id, channel)
) STRICT;

CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
  WHERE state = 'pending';
CREATE INDEX notification_deliveries_state ON notification_deliveries (state, id);

-- A user's channel choices. No row: email on, SMS off, no webhook. The phone number is the
-- account's (users.phone), edited through the same route.
CREATE TABLE notification_channels (
  user_id        TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  email_enabled  INTEGER NOT NULL CHECK (email_enabled IN (0, 1)),
  sms_enabled    INTEGER NOT NULL CHECK (sms_enabled IN (0, 1)),
  webhook_url    TEXT    NOT NULL DEFAULT '',
  webhook_secret TEXT    NOT NULL DEFAULT '',
  updated_at     INTEGER NOT NULL
) STRICT;

-- Rate limit: the open window of (user_id, group_key) started at window_start, when a message
-- went out. Messages inside the window only count into `held` (the last one's payload is kept);
-- at the window's end a digest goes out when held > 0 and the row is removed.
CREATE TABLE notification_windows (
  user_id      TEXT    NOT NULL,
  group_key    TEXT    NOT NULL,
  kind         TEXT    NOT NULL,
  window_start INTEGER NOT NULL,
  held         INTEGER NOT NULL DEFAULT 0,
  last_payload TEXT    NOT NULL DEFAULT '{}',
  PRIMARY KEY (user_id, group_key)
) STRICT;

CREATE INDEX notification_windows_start ON notification_windows (window_start);
