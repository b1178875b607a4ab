-- Files attached to messages. The file lives under the data directory at
-- path (relative to <data_dir>/helpdesk/attachments); content_type is
-- sniffed from the bytes, never taken from the sender.
CREATE TABLE helpdesk_attachments (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  ticket_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  path TEXT NOT NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX ix_helpdesk_attachments_ticket ON helpdesk_attachments (tenant_id, ticket_id, message_id);

-- E-mail Message-IDs of a ticket's messages: those that came in and the
-- contact module's ids of the replies that went out. A reply threads by
-- them; the key makes a second delivery of one e-mail a no-op.
CREATE TABLE helpdesk_mail_ids (
  tenant_id TEXT NOT NULL,
  mail_id TEXT NOT NULL,
  direction TEXT NOT NULL,
  ticket_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  sender TEXT NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL,
  PRIMARY KEY (tenant_id, mail_id)
);
CREATE INDEX ix_helpdesk_mail_ids_sender ON helpdesk_mail_ids (tenant_id, sender, created_at);
CREATE INDEX ix_helpdesk_mail_ids_message ON helpdesk_mail_ids (tenant_id, message_id);

-- The secret that authenticates a tenant's inbound e-mail: only its hash.
CREATE TABLE helpdesk_inbound_secrets (
  tenant_id TEXT NOT NULL PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at DATETIME NOT NULL
);

-- Satisfaction ratings, one per ticket.
ALTER TABLE helpdesk_tickets ADD COLUMN csat_rating TEXT NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN csat_comment TEXT NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN csat_at DATETIME NULL;
