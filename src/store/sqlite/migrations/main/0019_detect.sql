-- Detection (module detect, issue 15 item 2): security profiles, the violations they raised, the
-- devices in quarantine and the statistical baselines each device learned. Times are epoch ms.

-- One row per profile; `rules` is the validated JSON array of the profile's rules (the service
-- owns its shape). `position` keeps the order an admin gave. PUT replaces every row at once.
CREATE TABLE security_profiles (
  name       TEXT    PRIMARY KEY,
  model      TEXT,
  rules      TEXT    NOT NULL CHECK (json_valid(rules)),
  position   INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

-- A violation is the alert of one device + profile rule: 'active' from the first violating window
-- until the device behaved normally for the rule's clear time, then 'cleared'.
CREATE TABLE security_violations (
  id                INTEGER PRIMARY KEY,
  device_id         TEXT    NOT NULL,
  profile           TEXT    NOT NULL,
  rule              TEXT    NOT NULL,
  metric            TEXT    NOT NULL,
  value             REAL    NOT NULL,
  threshold         REAL    NOT NULL,
  statistic         TEXT,
  action            TEXT    NOT NULL CHECK (action IN ('notify', 'quarantine', 'revoke')),
  status            TEXT    NOT NULL CHECK (status IN ('active', 'cleared')),
  started_at        INTEGER NOT NULL,
  last_violation_at INTEGER NOT NULL,
  cleared_at        INTEGER
) STRICT;

CREATE UNIQUE INDEX security_violations_one_active
  ON security_violations (device_id, profile, rule) WHERE status = 'active';
CREATE INDEX security_violations_device ON security_violations (device_id, id);

-- Quarantined devices: the broker plugin refuses their publishes except to their shadow and
-- command responses (its state key quarantinedUsernames) until an admin releases them.
CREATE TABLE device_quarantine (
  device_id    TEXT    PRIMARY KEY,
  reason       TEXT    NOT NULL,
  source       TEXT    NOT NULL CHECK (source IN ('detect', 'admin', 'audit')),
  violation_id INTEGER REFERENCES security_violations (id) ON DELETE SET NULL,
  created_at   INTEGER NOT NULL,
  created_by   TEXT    NOT NULL
) STRICT;

-- A device's learned distribution of one metric over windows of one length (the statistical
-- rules' baseline): an opaque blob the service writes, so a restart keeps what was learned.
CREATE TABLE behaviour_baselines (
  device_id        TEXT    NOT NULL,
  metric           TEXT    NOT NULL,
  duration_seconds INTEGER NOT NULL,
  data             BLOB    NOT NULL,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (device_id, metric, duration_seconds)
) STRICT, WITHOUT ROWID;
