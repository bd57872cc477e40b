-- Time-series reads (issue 14 item 2). Each sample gets its time `t` (the device's timestamp when
-- plausible, else the receive time) and the owner it belonged to when it arrived, so that a new
-- owner never sees a previous owner's history. Numeric attributes are rolled up per minute and per
-- hour in the ingest transaction itself (one upsert per field and resolution), never by rescanning;
-- days are computed from hours at read time. Rows stored before this migration keep no owner (only
-- administrators see them) and have no rollups.
ALTER TABLE telemetry ADD COLUMN t INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry ADD COLUMN owner_id TEXT;
UPDATE telemetry SET t = CASE
  WHEN device_ts BETWEEN 946684800000 AND received_at + 3600000 THEN device_ts
  ELSE received_at END;
CREATE INDEX telemetry_device_t ON telemetry (device_id, t);

CREATE TABLE telemetry_rollup_1m (
  device_id TEXT    NOT NULL,
  bucket    INTEGER NOT NULL,  -- epoch ms of the UTC minute
  field     TEXT    NOT NULL,
  owner_id  TEXT    NOT NULL,  -- '' for an unregistered device
  count     INTEGER NOT NULL,
  sum       REAL    NOT NULL,
  min       REAL    NOT NULL,
  max       REAL    NOT NULL,
  first_t   INTEGER NOT NULL,
  first     REAL    NOT NULL,
  last_t    INTEGER NOT NULL,
  last      REAL    NOT NULL,
  PRIMARY KEY (device_id, bucket, field, owner_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE telemetry_rollup_1h (
  device_id TEXT    NOT NULL,
  bucket    INTEGER NOT NULL,  -- epoch ms of the UTC hour
  field     TEXT    NOT NULL,
  owner_id  TEXT    NOT NULL,
  count     INTEGER NOT NULL,
  sum       REAL    NOT NULL,
  min       REAL    NOT NULL,
  max       REAL    NOT NULL,
  first_t   INTEGER NOT NULL,
  first     REAL    NOT NULL,
  last_t    INTEGER NOT NULL,
  last      REAL    NOT NULL,
  PRIMARY KEY (device_id, bucket, field, owner_id)
) STRICT, WITHOUT ROWID;
