-- The broker spool position this database has consumed (src/modules/ingest). It is updated in the
-- same transaction as the rows it covers, so after a crash the daemon resumes right after the last
-- record whose row committed; one row per source ('spool').
CREATE TABLE ingest_position (
  source  TEXT    PRIMARY KEY,
  segment INTEGER NOT NULL,
  seq     INTEGER NOT NULL
) STRICT;
