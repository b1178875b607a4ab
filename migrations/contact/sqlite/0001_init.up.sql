-- Messages: one row per message, written with its delivery job in one
-- transaction. status is the latest entry of its history.
CREATE TABLE contact_messages (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  recipient TEXT NOT NULL,
  category TEXT NOT NULL,
  locale TEXT NOT NULL DEFAULT '',
  template TEXT NOT NULL DEFAULT '',
  data TEXT NULL,
  subject TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  html TEXT NOT NULL DEFAULT '',
  metadata TEXT NULL,
  idempotency_key TEXT NULL,
  payload_hash TEXT NOT NULL,
  status TEXT NOT NULL,
  provider_id TEXT NULL,
  provider_message_id TEXT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  claimed_until DATETIME NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_contact_messages_idempotency ON contact_messages (tenant_id, idempotency_key);
CREATE INDEX ix_contact_messages_list ON contact_messages (tenant_id, created_at);

-- Each message's status history, one row per change and per attempt.
CREATE TABLE contact_message_events (
  id TEXT NOT NULL PRIMARY KEY,
  message_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  status TEXT NOT NULL,
  provider_id TEXT NULL,
  provider_kind TEXT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  outcome TEXT NOT NULL DEFAULT '',
  detail TEXT NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX ix_contact_message_events_message ON contact_message_events (message_id, created_at);

-- Providers: each tenant's ordered list per channel. credentials is
-- AES-256-GCM sealed JSON, never returned by the API.
CREATE TABLE contact_providers (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  channel TEXT NOT NULL,
  kind TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  enabled INTEGER NOT NULL DEFAULT 1,
  settings TEXT NOT NULL,
  credentials TEXT NULL,
  allow_private INTEGER NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_contact_providers_name ON contact_providers (tenant_id, name);
CREATE INDEX ix_contact_providers_route ON contact_providers (tenant_id, channel, priority);

-- What the log provider "sent": development's outbox.
CREATE TABLE contact_outbox (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  provider_id TEXT NULL,
  channel TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  html TEXT NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL
);
CREATE INDEX ix_contact_outbox_list ON contact_outbox (tenant_id, created_at);
