-- One-time recovery codes of a user's second factor. Only an HMAC of each
-- code is kept; signing in with one deletes its row, so a code works once.
CREATE TABLE kernel_totp_recovery_codes (
  user_id VARCHAR(36) NOT NULL,
  code_hash VARCHAR(64) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (user_id, code_hash),
  CONSTRAINT fk_kernel_totp_recovery_user FOREIGN KEY (user_id) REFERENCES kernel_users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
