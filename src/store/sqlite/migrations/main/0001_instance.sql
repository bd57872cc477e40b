-- Instance metadata of the main database (smartproduct.db): one row per key.
-- 'schema' lets the store refuse a file that belongs to another database (e.g. telemetry.db renamed),
-- 'instance_id' identifies this installation, 'created_at' is when the database was first opened.
CREATE TABLE instance_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

INSERT INTO instance_meta (key, value) VALUES
  ('schema', 'main'),
  ('instance_id', lower(hex(randomblob(16)))),
  ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
