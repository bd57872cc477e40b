-- Metadata of the telemetry database (telemetry.db), kept apart from the main database so that
-- retention (deleting or dropping old telemetry) never touches the main file.
CREATE TABLE instance_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

INSERT INTO instance_meta (key, value) VALUES
  ('schema', 'telemetry'),
  ('instance_id', lower(hex(randomblob(16)))),
  ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
