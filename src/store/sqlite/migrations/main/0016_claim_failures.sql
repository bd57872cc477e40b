-- Wrong claim codes per serial number, across all users (devices, issue 10 finding 5): a claim
-- code is a short secret printed on the device, and a per-user limit alone lets many accounts
-- guess one device's code. Fixed windows; one row per serial that had a wrong code recently.
-- Kept in the database so that a restart does not give guessers a fresh allowance.
CREATE TABLE claim_failures (
  device_id    TEXT    PRIMARY KEY,
  count        INTEGER NOT NULL CHECK (count >= 0),
  window_start INTEGER NOT NULL
) STRICT;
