-- The commands module: remote commands sent to a device (seed routes 14-16). A row is written
-- `pending` together with the shadow's desired change (one transaction) and moves exactly once:
-- to `success`/`failed` by the device's reply, to `failed` with reason "timeout" when expires_at
-- passes, or to `superseded` by a newer command for the same device and shadow field.
-- Times are epoch MILLISECONDS. `value` and `details` are JSON (a value may be any JSON type).
CREATE TABLE commands (
  id          TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
  device_id   TEXT    NOT NULL CHECK (length(device_id) BETWEEN 1 AND 128),
  owner       TEXT    NOT NULL,
  command     TEXT    NOT NULL CHECK (length(command) BETWEEN 1 AND 64),
  value       TEXT    NOT NULL CHECK (json_valid(value)),
  details     TEXT    NOT NULL CHECK (json_valid(details)),
  field       TEXT    NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('pending', 'success', 'failed', 'superseded')),
  reason      TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) STRICT;
-- Newest first per device (the list route, optionally filtered by status); the rowid, which every
-- index entry carries, breaks ties within a millisecond.
CREATE INDEX commands_by_device ON commands (device_id, created_at DESC);
-- The sweep finds expired pending commands; the resend finds a device's pending ones.
CREATE INDEX commands_pending ON commands (status, expires_at) WHERE status = 'pending';
-- At most one pending command per device and field: the database settles concurrent creates.
CREATE UNIQUE INDEX commands_one_pending ON commands (device_id, field) WHERE status = 'pending';
