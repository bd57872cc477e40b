-- Datasets (module datasets, issue 14 item 4): admin-defined queries over the stored telemetry, run
-- on a schedule or on demand, each run writing one file. Times are epoch ms.
--
-- `watermark` is the id of the last telemetry.db row a successful run covered: the next run reads
-- only rows after it (ids only grow: retention never deletes the newest row). It is valid for the
-- telemetry.db whose instance id is `telemetry_instance`; a replaced telemetry.db starts over.
CREATE TABLE datasets (
  name               TEXT    PRIMARY KEY,
  query              TEXT    NOT NULL,
  schedule           TEXT    NOT NULL,
  format             TEXT    NOT NULL CHECK (format IN ('csv', 'jsonl')),
  retention_days     INTEGER NOT NULL CHECK (retention_days >= 1),
  enabled            INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  next_run_at        INTEGER,
  watermark          INTEGER NOT NULL DEFAULT 0,
  telemetry_instance TEXT    NOT NULL DEFAULT ''
) STRICT;

-- One row per run; `file` is relative to the datasets directory ('' until it succeeded). At most one
-- run per dataset is 'running': the partial unique index settles concurrent starts (scheduler, API,
-- smartproductctl dataset run).
CREATE TABLE dataset_runs (
  id          INTEGER PRIMARY KEY,
  dataset     TEXT    NOT NULL REFERENCES datasets (name) ON DELETE CASCADE,
  trigger     TEXT    NOT NULL CHECK (trigger IN ('scheduled', 'manual', 'cli')),
  status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  from_row    INTEGER NOT NULL DEFAULT 0,
  to_row      INTEGER NOT NULL DEFAULT 0,
  rows        INTEGER NOT NULL DEFAULT 0,
  bytes       INTEGER NOT NULL DEFAULT 0,
  columns     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(columns)),
  file        TEXT    NOT NULL DEFAULT '',
  error       TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE UNIQUE INDEX dataset_runs_one_running ON dataset_runs (dataset) WHERE status = 'running';
CREATE INDEX dataset_runs_by_dataset ON dataset_runs (dataset, id);
CREATE INDEX dataset_runs_by_start ON dataset_runs (started_at);

-- The seed's dataset (smartproduct_dataset: every message, hourly), now incremental and as CSV.
-- next_run_at is set by the daemon from the schedule at its first start.
INSERT INTO datasets (name, query, schedule, format, retention_days, enabled, created_at,
                      updated_at)
VALUES ('smartproduct_dataset', 'SELECT * FROM telemetry', 'rate(1 hour)', 'csv', 30, 1,
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
