-- Account mail leaves through an outbox (identity, issue 10 finding 3). The sign-up, resend and
-- forgot routes insert one row and answer; the identity module's mail worker issues the code at
-- send time (so no code is ever stored in clear), mails it, and deletes the row, retrying with
-- back-off when the SMTP server fails. The routes do the same work whether or not the account
-- exists: the worker decides what (if anything) to send.
--
--   kind        'verify-email'    a verification code, if the account exists, is enabled and is
--                                 not verified yet;
--               'reset-password'  a reset code, if the account exists and is enabled;
--               'signup-existing' a notice to the owner that someone tried to sign up with the
--                                 address (no code);
--   email       normalized address (the account is looked up by it when the row is sent);
--   request_id  the X-Request-Id of the request that queued it (the worker logs under it);
--   created_at, next_attempt_at  epoch seconds; attempts: failed deliveries so far.
CREATE TABLE account_mail_outbox (
  id              INTEGER PRIMARY KEY,
  kind            TEXT    NOT NULL
                  CHECK (kind IN ('verify-email', 'reset-password', 'signup-existing')),
  email           TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  request_id      TEXT    NOT NULL DEFAULT '' CHECK (length(request_id) <= 64),
  created_at      INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at INTEGER NOT NULL
) STRICT;

CREATE INDEX account_mail_outbox_due ON account_mail_outbox (next_attempt_at, id);
