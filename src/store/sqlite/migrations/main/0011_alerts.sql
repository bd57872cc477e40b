-- Alerts (issue 13): repeats of one device + event type + message fold into one alert group, so a
-- device that re-sends its threshold event every 10 s gives one alert with a rising occurrence
-- count instead of a flood. Written by the events store step in the SAME transaction as the event
-- (a kill -9 leaves both or neither), read and acknowledged by the alerts module.
--
-- Every event of an owned device joins a group whatever its type; the list and the count filter by
-- the user's current alertLevel (the seed's definition: an unacknowledged event whose type is in
-- alertLevel), so changing alertLevel changes what is shown, as in the seed.
CREATE TABLE alerts (
  id             INTEGER PRIMARY KEY,
  user_id        TEXT    NOT NULL,
  device_id      TEXT    NOT NULL,
  event_type     TEXT    NOT NULL CHECK (event_type IN ('error', 'warning', 'info', 'diagnostic')),
  message        TEXT    NOT NULL,
  occurrences    INTEGER NOT NULL CHECK (occurrences >= 1),
  first_event_id TEXT    NOT NULL,
  last_event_id  TEXT    NOT NULL,
  first_seen_at  INTEGER NOT NULL,  -- server receive time (epoch ms) of the first event
  last_seen_at   INTEGER NOT NULL,  -- ... of the newest; the group window slides on it
  ack            INTEGER NOT NULL DEFAULT 0 CHECK (ack IN (0, 1)),
  acked_at       INTEGER,
  updated_at     INTEGER NOT NULL
) STRICT;

-- GET /api/alerts/count: COUNT(*) over this covering partial index (open alerts only; ack is in
-- the key so that SQLite need not read the table to check it).
CREATE INDEX alerts_open_type ON alerts (user_id, event_type, ack) WHERE ack = 0;
-- GET /api/alerts: newest activity first.
CREATE INDEX alerts_open_recent ON alerts (user_id, last_seen_at DESC, id DESC) WHERE ack = 0;
-- The store step's lookup of the open group of a new event.
CREATE INDEX alerts_open_group ON alerts (user_id, device_id, event_type, message, last_seen_at)
  WHERE ack = 0;

-- The group an event joined (NULL: no owner, or the device+type was suppressed).
ALTER TABLE events ADD COLUMN alert_id INTEGER;
CREATE INDEX events_alert ON events (alert_id) WHERE alert_id IS NOT NULL;
-- "Mark all read" of one user (optionally one type) touches only their unread events.
CREATE INDEX events_user_unread ON events (user_id, type) WHERE ack = 0 AND user_id IS NOT NULL;

-- suppress: a user's device + event type raises no alert and no notification until until_ms
-- (epoch ms; NULL = until lifted). Expired rows are ignored (and removed when next written).
CREATE TABLE alert_suppressions (
  user_id    TEXT    NOT NULL,
  device_id  TEXT    NOT NULL,
  event_type TEXT    NOT NULL CHECK (event_type IN ('error', 'warning', 'info', 'diagnostic')),
  until_ms   INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id, event_type)
) STRICT, WITHOUT ROWID;
