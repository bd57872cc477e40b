-- Accounts and access (identity module) and per-user settings (settings module).
-- Times are epoch SECONDS for identity rows (the unit of JWT claims) and epoch MILLISECONDS for
-- settings rows (rendered as ISO-8601 with milliseconds).

CREATE TABLE users (
  id             TEXT    PRIMARY KEY,
  email          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
  password_hash  TEXT    NOT NULL,
  role           TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
  enabled        INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  email_verified INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
  name           TEXT    NOT NULL DEFAULT '',
  phone          TEXT    NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
) STRICT;

-- Admin listing pages by (created_at, id).
CREATE INDEX users_created ON users (created_at, id);

-- At most one live code per user and purpose; only an HMAC of the code is stored.
CREATE TABLE one_time_codes (
  user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose    TEXT    NOT NULL CHECK (purpose IN ('verify-email', 'reset-password')),
  code_hash  TEXT    NOT NULL,
  expires_at INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, purpose)
) STRICT;

-- Refresh tokens: SHA-256 of the opaque token; rotated on use, revoked by family.
CREATE TABLE refresh_tokens (
  token_hash TEXT    PRIMARY KEY,
  family_id  TEXT    NOT NULL,
  user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  issued_at  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER,
  revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- Failed sign-ins per key ("account:<email>" / "address:<ip>") in a fixed window.
CREATE TABLE login_failures (
  key          TEXT    PRIMARY KEY,
  count        INTEGER NOT NULL,
  window_start INTEGER NOT NULL
) STRICT;

-- Security-relevant events; no foreign keys so entries outlive deleted accounts.
CREATE TABLE audit_log (
  id     INTEGER PRIMARY KEY,
  at     INTEGER NOT NULL,
  actor  TEXT    NOT NULL,
  action TEXT    NOT NULL,
  target TEXT    NOT NULL,
  detail TEXT    NOT NULL
) STRICT;

-- The seed's Settings table: settingId is a user id or a well-known id such as 'app-config'.
CREATE TABLE settings (
  setting_id TEXT    PRIMARY KEY,
  setting    TEXT    NOT NULL CHECK (json_valid(setting)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

INSERT INTO settings (setting_id, setting, created_at, updated_at) VALUES
  ('app-config', '{"idp":"smartproduct"}', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
   CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
