-- The security audit (module audit): its runs and the findings they raise. Times are epoch ms.

-- One row per audit run. `checks` holds, per check that ran, the number of findings it raised
-- (JSON object, check name -> count). At most one run is 'running' at a time: the partial unique
-- index settles concurrent starts (the daemon's scheduler, the API, smartproductctl).
CREATE TABLE audit_runs (
  id          INTEGER PRIMARY KEY,
  trigger     TEXT    NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
  status      TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  checks      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(checks)),
  notes       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(notes)),
  error       TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE UNIQUE INDEX audit_runs_one_running ON audit_runs (status) WHERE status = 'running';

-- One row per (check, resource): a finding that fires again in a later run updates last_seen; one
-- that no longer fires becomes 'resolved'. 'suppressed' keeps firing silently until
-- suppressed_until (NULL: until reopened).
CREATE TABLE audit_findings (
  id               INTEGER PRIMARY KEY,
  check_name       TEXT    NOT NULL,
  severity         TEXT    NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
  resource_type    TEXT    NOT NULL,
  resource_id      TEXT    NOT NULL,
  reason           TEXT    NOT NULL,
  details          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
  status           TEXT    NOT NULL CHECK (status IN ('open', 'suppressed', 'resolved')),
  suppress_reason  TEXT,
  suppressed_until INTEGER,
  first_seen       INTEGER NOT NULL,
  last_seen        INTEGER NOT NULL,
  resolved_at      INTEGER,
  first_run        INTEGER NOT NULL REFERENCES audit_runs (id),
  last_run         INTEGER NOT NULL REFERENCES audit_runs (id),
  updated_at       INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX audit_findings_key ON audit_findings (check_name, resource_type, resource_id);
CREATE INDEX audit_findings_status ON audit_findings (status, id);
