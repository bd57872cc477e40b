-- Device events (the seed's Events table) and device presence (connect/disconnect state and history).
CREATE TABLE events (
  id                    TEXT    PRIMARY KEY,
  device_id             TEXT    NOT NULL,
  user_id               TEXT,
  message_id            TEXT    NOT NULL,
  type                  TEXT    NOT NULL CHECK (type IN ('error', 'warning', 'info', 'diagnostic')),
  message               TEXT    NOT NULL,
  details               TEXT    NOT NULL,
  timestamp             INTEGER NOT NULL,
  timestamp_from_device INTEGER NOT NULL CHECK (timestamp_from_device IN (0, 1)),
  sent_at               TEXT    NOT NULL,
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL,
  ack                   INTEGER NOT NULL DEFAULT 0 CHECK (ack IN (0, 1)),
  suppress              INTEGER NOT NULL DEFAULT 0 CHECK (suppress IN (0, 1)),
  payload               TEXT    NOT NULL,
  dedup_key             TEXT
) STRICT;

CREATE UNIQUE INDEX events_dedup ON events (device_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX events_device_time ON events (device_id, timestamp DESC);
CREATE INDEX events_user_time ON events (user_id, timestamp DESC) WHERE user_id IS NOT NULL;

CREATE TABLE device_presence (
  device_id        TEXT    PRIMARY KEY,
  connected        INTEGER NOT NULL CHECK (connected IN (0, 1)),
  since            INTEGER NOT NULL,
  last_seen        INTEGER NOT NULL,
  address          TEXT    NOT NULL,
  broker_epoch     INTEGER NOT NULL,
  conn_seq         INTEGER NOT NULL,
  cert_fingerprint TEXT    NOT NULL
) STRICT;

CREATE INDEX device_presence_connected ON device_presence (connected, broker_epoch);

CREATE TABLE presence_history (
  id               INTEGER PRIMARY KEY,
  device_id        TEXT    NOT NULL,
  event            TEXT    NOT NULL CHECK (event IN ('connected', 'disconnected', 'rejected')),
  client_id        TEXT    NOT NULL,
  cert_fingerprint TEXT    NOT NULL,
  issuer           TEXT    NOT NULL,
  serial           TEXT    NOT NULL,
  address          TEXT    NOT NULL,
  protocol_version INTEGER NOT NULL,
  broker_epoch     INTEGER NOT NULL,
  conn_seq         INTEGER NOT NULL,
  at               INTEGER NOT NULL,
  reason           TEXT    NOT NULL
) STRICT;

CREATE INDEX presence_history_device ON presence_history (device_id, id DESC);
