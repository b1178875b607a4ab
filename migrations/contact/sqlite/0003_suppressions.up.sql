-- The suppression list: addresses a tenant no longer sends to on a
-- channel. address is normalized (a lower-case e-mail address, an E.164
-- number). reason is stop_keyword, hard_bounce, unsubscribe or manual.
CREATE TABLE contact_suppressions (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  address TEXT NOT NULL,
  reason TEXT NOT NULL,
  message_id TEXT NULL,
  created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_contact_suppressions_address ON contact_suppressions (tenant_id, channel, address);
CREATE INDEX ix_contact_suppressions_list ON contact_suppressions (tenant_id, created_at);

-- Provider callbacks already applied: a replay (the same provider event)
-- hits the unique key and changes nothing.
CREATE TABLE contact_callback_events (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  event_key TEXT NOT NULL,
  message_id TEXT NULL,
  created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_contact_callback_events_key ON contact_callback_events (provider_id, event_key);

-- Callbacks find their message by the provider's id of it.
CREATE INDEX ix_contact_messages_provider_ref ON contact_messages (provider_id, provider_message_id);
