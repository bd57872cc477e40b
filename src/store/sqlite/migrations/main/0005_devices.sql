-- Device lifecycle: registrations (the seed's Registrations table), registered certificate
-- authorities, device certificates seen by just-in-time registration (JITR) and security events.
-- Times are epoch MILLISECONDS except certificate validity (epoch SECONDS, as in X.509).

-- One row per registration. A device is re-registered (by anyone) after a delete with a NEW row,
-- so the deleted one stays as history; at most one live (not deleted) row per device.
CREATE TABLE registrations (
  id           INTEGER PRIMARY KEY,
  device_id    TEXT    NOT NULL CHECK (length(device_id) BETWEEN 1 AND 128),
  user_id      TEXT    NOT NULL,
  device_name  TEXT    NOT NULL CHECK (length(device_name) BETWEEN 1 AND 128),
  model_number TEXT    NOT NULL CHECK (length(model_number) BETWEEN 1 AND 64),
  details      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
  status       TEXT    NOT NULL CHECK (status IN ('pending', 'complete', 'deleted')),
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  activated_at INTEGER,
  deleted_at   INTEGER
) STRICT;

CREATE UNIQUE INDEX registrations_live ON registrations (device_id) WHERE status != 'deleted';
CREATE INDEX registrations_device ON registrations (device_id, id DESC);
CREATE INDEX registrations_user_name ON registrations (user_id, device_name, device_id, id);

-- Manufacturer CAs. id = the CA's subject key identifier (uppercase hex), which is what device
-- certificates carry as their authority key identifier (and what the broker plugin reports).
-- A deregistered CA keeps its row so that the plugin keeps refusing it (mosquitto caches a
-- removed capath CA until restart) and its history stays readable.
CREATE TABLE certificate_authorities (
  id                TEXT    PRIMARY KEY,
  name              TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  subject           TEXT    NOT NULL,
  issuer            TEXT    NOT NULL,
  serial            TEXT    NOT NULL,
  fingerprint       TEXT    NOT NULL UNIQUE,
  not_before        INTEGER NOT NULL,
  not_after         INTEGER NOT NULL,
  certificate_pem   TEXT    NOT NULL,
  status            TEXT    NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE', 'DEREGISTERED')),
  auto_registration INTEGER NOT NULL CHECK (auto_registration IN (0, 1)),
  managed           INTEGER NOT NULL CHECK (managed IN (0, 1)),
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX certificate_authorities_name ON certificate_authorities (name)
  WHERE status != 'DEREGISTERED';

-- Device certificates, keyed by the SHA-256 fingerprint of the DER (uppercase hex). device_id is
-- the certificate's CN. Only ACTIVE certificates have topic rights at the broker.
CREATE TABLE device_certificates (
  fingerprint     TEXT    PRIMARY KEY,
  device_id       TEXT    NOT NULL,
  ca_id           TEXT    NOT NULL,
  issuer          TEXT    NOT NULL,
  serial          TEXT    NOT NULL,
  not_before      INTEGER,
  not_after       INTEGER,
  status          TEXT    NOT NULL
                  CHECK (status IN ('PENDING_ACTIVATION', 'ACTIVE', 'REVOKED', 'REFUSED')),
  status_reason   TEXT    NOT NULL DEFAULT '',
  registration_id INTEGER REFERENCES registrations (id),
  first_seen_at   INTEGER NOT NULL,
  last_seen_at    INTEGER NOT NULL,
  activated_at    INTEGER,
  revoked_at      INTEGER,
  updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX device_certificates_device ON device_certificates (device_id, first_seen_at);
CREATE INDEX device_certificates_status ON device_certificates (status, device_id);

-- Refused connections and other security-relevant device events (JITR refusals, revoked or
-- disabled-CA certificates trying to connect, client id mismatches).
CREATE TABLE security_events (
  id               INTEGER PRIMARY KEY,
  at               INTEGER NOT NULL,
  kind             TEXT    NOT NULL,
  device_id        TEXT    NOT NULL,
  cert_fingerprint TEXT    NOT NULL,
  ca_id            TEXT    NOT NULL,
  detail           TEXT    NOT NULL
) STRICT;

CREATE INDEX security_events_device ON security_events (device_id, id DESC);

-- Bumped by every writer other than the daemon (smartproductctl) that changes what the broker
-- plugin must enforce; the daemon re-sends the whole plugin state when it sees a new value.
CREATE TABLE broker_state_revision (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL
) STRICT;

INSERT INTO broker_state_revision (id, revision) VALUES (1, 0);

-- The CA registration code (AWS's get-registration-code): the CN a verification certificate must
-- carry to prove possession of a CA's key. One per instance, stable.
INSERT INTO instance_meta (key, value) VALUES ('ca_registration_code', lower(hex(randomblob(32))));
