-- Messages: one row per message, written with its delivery job in one
-- transaction. status is the latest entry of its history.
CREATE TABLE contact_messages (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  channel VARCHAR(16) NOT NULL,
  recipient VARCHAR(2048) NOT NULL,
  category VARCHAR(16) NOT NULL,
  locale VARCHAR(35) NOT NULL DEFAULT '',
  template VARCHAR(200) NOT NULL DEFAULT '',
  data MEDIUMTEXT NULL,
  subject VARCHAR(998) NOT NULL DEFAULT '',
  body MEDIUMTEXT NOT NULL,
  html MEDIUMTEXT NOT NULL,
  metadata TEXT NULL,
  idempotency_key VARCHAR(200) NULL,
  payload_hash CHAR(64) NOT NULL,
  status VARCHAR(16) NOT NULL,
  provider_id VARCHAR(36) NULL,
  provider_message_id VARCHAR(255) NULL,
  attempts INT NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  claimed_until DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_contact_messages_idempotency (tenant_id, idempotency_key),
  KEY ix_contact_messages_list (tenant_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Each message's status history, one row per change and per attempt.
CREATE TABLE contact_message_events (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  message_id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  status VARCHAR(16) NOT NULL,
  provider_id VARCHAR(36) NULL,
  provider_kind VARCHAR(16) NULL,
  attempt INT NOT NULL DEFAULT 0,
  outcome VARCHAR(16) NOT NULL DEFAULT '',
  detail TEXT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY ix_contact_message_events_message (message_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Providers: each tenant's ordered list per channel. credentials is
-- AES-256-GCM sealed JSON, never returned by the API.
CREATE TABLE contact_providers (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(100) NOT NULL,
  channel VARCHAR(16) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  priority INT NOT NULL DEFAULT 0,
  enabled TINYINT(1) NOT NULL DEFAULT 1,
  settings TEXT NOT NULL,
  credentials TEXT NULL,
  allow_private TINYINT(1) NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_contact_providers_name (tenant_id, name),
  KEY ix_contact_providers_route (tenant_id, channel, priority)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- What the log provider "sent": development's outbox.
CREATE TABLE contact_outbox (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  message_id VARCHAR(36) NOT NULL,
  provider_id VARCHAR(36) NULL,
  channel VARCHAR(16) NOT NULL,
  recipient VARCHAR(2048) NOT NULL,
  subject VARCHAR(998) NOT NULL DEFAULT '',
  body MEDIUMTEXT NOT NULL,
  html MEDIUMTEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY ix_contact_outbox_list (tenant_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
