-- Telemetry samples. The device id comes from the MQTT topic; payload is the device's JSON object.
-- dedup_key identifies a broker redelivery of the same message (NULL: not deduplicable).
CREATE TABLE telemetry (
  id          INTEGER PRIMARY KEY,
  device_id   TEXT    NOT NULL,
  device_ts   INTEGER,
  received_at INTEGER NOT NULL,
  payload     TEXT    NOT NULL,
  dedup_key   TEXT
) STRICT;

CREATE UNIQUE INDEX telemetry_dedup ON telemetry (device_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX telemetry_device_received ON telemetry (device_id, received_at);
