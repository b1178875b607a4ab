-- The e2e probe's record of message deliveries (test builds only, -tags
-- e2eprobe): every invocation of its subscriber, and the side effect it
-- writes once per idempotency key (the message id and the subscriber).
CREATE TABLE probe_message_calls (
  idem_key VARCHAR(120) NOT NULL PRIMARY KEY,
  ref VARCHAR(120) NOT NULL,
  calls INT NOT NULL,
  deduped INT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE probe_message_effects (
  idem_key VARCHAR(120) NOT NULL PRIMARY KEY,
  ref VARCHAR(120) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  applied_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
