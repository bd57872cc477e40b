-- Access-token revocation (identity, issue 10 finding 7). Each access token carries the account's
-- token generation ("gen" claim); a password change or reset adds one, which refuses every token
-- issued before it on the next request. The counters of the code limits (submissions and codes
-- issued, per account and per address) live in login_failures under their own key prefixes.
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0 CHECK (token_generation >= 0);
