-- One-time recovery codes of a user's second factor. Only an HMAC of each
-- code is kept; signing in with one deletes its row, so a code works once.
CREATE TABLE kernel_totp_recovery_codes (
  user_id TEXT NOT NULL REFERENCES kernel_users (id) ON DELETE CASCADE,
  code_hash TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  PRIMARY KEY (user_id, code_hash)
);
