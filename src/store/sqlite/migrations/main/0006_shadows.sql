-- The shadow module: one AWS classic shadow per device. state and metadata are JSON objects
-- {"desired":{...},"reported":{...}}; version is AWS's document version. A deleted shadow keeps its
-- row as a tombstone (deleted = 1, empty state) so that a shadow created again continues the
-- version, as AWS does. Times are epoch SECONDS (AWS's shadow timestamps), unlike other tables.
CREATE TABLE shadows (
  device_id  TEXT    PRIMARY KEY CHECK (length(device_id) BETWEEN 1 AND 128),
  state      TEXT    NOT NULL CHECK (json_valid(state)),
  metadata   TEXT    NOT NULL CHECK (json_valid(metadata)),
  version    INTEGER NOT NULL CHECK (version >= 0),
  updated_at INTEGER NOT NULL,
  deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
) STRICT;
