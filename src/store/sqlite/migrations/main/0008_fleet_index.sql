-- Fleet search (GET /api/devices?q=, GET /api/devices/aggregate): a flattened index of every
-- device's searchable values, one row per leaf. path is the query language's field name:
--   'shadow.reported.<a>.<b>', 'shadow.desired.<a>', 'shadow.version'  from shadows.state/version
--   'attributes.<a>.<b>'                                             from a live registration's details
-- Object keys that are not [A-Za-z][A-Za-z0-9]* appear quoted as SQLite's json_tree() writes
-- them (shadow.reported."a-b"); the query translator quotes field segments the same way.
-- Array elements are indexed under the array's path (tags:[x,y] → 'tags' twice); values inside
-- nested arrays or objects inside arrays are not indexed. A value is either a string (str; JSON
-- true/false as 'true'/'false') or a number (num); nulls are not indexed.
--
-- The triggers keep the index in the same transaction as the write that changes the source
-- row, so a search never sees a stale shadow, and neither the shadow nor the devices module has
-- code for it: each rewrites the device's rows from the view fleet_index_rows (the one
-- definition of what is indexed; SQLite pushes `device_id = ?` into it, so a trigger flattens one
-- device). A later migration that rebuilds `shadows` or `registrations` must recreate them.
-- Connectivity is read from device_presence, registry fields from registrations (indexes below).
CREATE TABLE fleet_index (
  device_id TEXT NOT NULL,
  path      TEXT NOT NULL,
  str       TEXT,
  num       REAL,
  CHECK ((str IS NULL) != (num IS NULL))
) STRICT;

CREATE INDEX fleet_index_str ON fleet_index (path, str, device_id) WHERE str IS NOT NULL;
CREATE INDEX fleet_index_num ON fleet_index (path, num, device_id) WHERE num IS NOT NULL;
CREATE INDEX fleet_index_device ON fleet_index (device_id, path);

-- Registry fields searched over the whole fleet (admins) or one user's devices, in thingName order.
CREATE INDEX registrations_live_user ON registrations (user_id, device_id) WHERE status != 'deleted';
CREATE INDEX registrations_live_name ON registrations (device_name, device_id)
  WHERE status != 'deleted';
CREATE INDEX registrations_live_model ON registrations (model_number, device_id)
  WHERE status != 'deleted';

-- Every row fleet_index should hold: the leaves of live shadows (a deleted shadow is a tombstone
-- with nothing indexed) and of live registrations' details, and each live shadow's version.
CREATE VIEW fleet_index_rows AS
WITH docs (device_id, prefix, doc) AS (
  SELECT device_id, 'shadow.', state FROM shadows WHERE deleted = 0
  UNION ALL
  SELECT device_id, 'attributes.', details FROM registrations WHERE status != 'deleted')
SELECT d.device_id AS device_id,
       d.prefix || substr(IIF(typeof(t.key) = 'integer', t.path, t.fullkey), 3) AS path,
       CASE t.type WHEN 'text' THEN t.atom WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END
         AS str,
       IIF(t.type IN ('integer', 'real'), t.atom, NULL) AS num
FROM docs d, json_tree(d.doc) t
WHERE t.type NOT IN ('object', 'array', 'null')
  AND instr(IIF(typeof(t.key) = 'integer', t.path, t.fullkey), '[') = 0
UNION ALL
SELECT device_id, 'shadow.version', NULL, version FROM shadows WHERE deleted = 0;

CREATE TRIGGER fleet_index_shadow_insert AFTER INSERT ON shadows
BEGIN
  DELETE FROM fleet_index WHERE device_id = NEW.device_id;
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows WHERE device_id = NEW.device_id;
END;

CREATE TRIGGER fleet_index_shadow_update AFTER UPDATE ON shadows
BEGIN
  DELETE FROM fleet_index WHERE device_id IN (OLD.device_id, NEW.device_id);
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows
  WHERE device_id IN (OLD.device_id, NEW.device_id);
END;

CREATE TRIGGER fleet_index_shadow_delete AFTER DELETE ON shadows
BEGIN
  DELETE FROM fleet_index WHERE device_id = OLD.device_id;
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows WHERE device_id = OLD.device_id;
END;

CREATE TRIGGER fleet_index_registration_insert AFTER INSERT ON registrations
BEGIN
  DELETE FROM fleet_index WHERE device_id = NEW.device_id;
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows WHERE device_id = NEW.device_id;
END;

CREATE TRIGGER fleet_index_registration_update AFTER UPDATE OF status, details, device_id
  ON registrations
BEGIN
  DELETE FROM fleet_index WHERE device_id IN (OLD.device_id, NEW.device_id);
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows
  WHERE device_id IN (OLD.device_id, NEW.device_id);
END;

CREATE TRIGGER fleet_index_registration_delete AFTER DELETE ON registrations
BEGIN
  DELETE FROM fleet_index WHERE device_id = OLD.device_id;
  INSERT INTO fleet_index SELECT * FROM fleet_index_rows WHERE device_id = OLD.device_id;
END;

-- Backfill from the shadows and registrations written before this migration.
INSERT INTO fleet_index SELECT * FROM fleet_index_rows;
