-- The suppression list: addresses a tenant no longer sends to on a
-- channel. address is normalized (a lower-case e-mail address, an E.164
-- number). reason is stop_keyword, hard_bounce, unsubscribe or manual.
CREATE TABLE contact_suppressions (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  channel VARCHAR(16) NOT NULL,
  address VARCHAR(320) NOT NULL,
  reason VARCHAR(16) NOT NULL,
  message_id VARCHAR(36) NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_contact_suppressions_address (tenant_id, channel, address),
  KEY ix_contact_suppressions_list (tenant_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Provider callbacks already applied: a replay (the same provider event)
-- hits the unique key and changes nothing.
CREATE TABLE contact_callback_events (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  provider_id VARCHAR(36) NOT NULL,
  event_key VARCHAR(255) NOT NULL,
  message_id VARCHAR(36) NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_contact_callback_events_key (provider_id, event_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Callbacks find their message by the provider's id of it.
CREATE INDEX ix_contact_messages_provider_ref ON contact_messages (provider_id, provider_message_id);
