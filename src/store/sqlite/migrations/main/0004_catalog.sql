-- The catalog module: the manufacturer's reference catalog (the seed's Reference table), keyed by
-- (device_id, model_number). claim_code_hash is an HMAC (never the code); times are epoch ms.

CREATE TABLE catalog (
  device_id       TEXT    NOT NULL CHECK (length(device_id) BETWEEN 1 AND 128),
  model_number    TEXT    NOT NULL CHECK (length(model_number) BETWEEN 1 AND 64),
  details         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
  claim_code_hash TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (device_id, model_number)
) STRICT, WITHOUT ROWID;

-- Listing one model's serials in key order (?modelNumber= filter).
CREATE INDEX catalog_model ON catalog (model_number, device_id);
