-- The e2e probe's record of message deliveries (test builds only, -tags
-- e2eprobe): every invocation of its subscriber, and the side effect it
-- writes once per idempotency key (the message id and the subscriber).
CREATE TABLE probe_message_calls (
  idem_key TEXT NOT NULL PRIMARY KEY,
  ref TEXT NOT NULL,
  calls INTEGER NOT NULL,
  deduped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE probe_message_effects (
  idem_key TEXT NOT NULL PRIMARY KEY,
  ref TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  applied_at DATETIME NOT NULL
);
