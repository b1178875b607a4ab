-- Files attached to messages. The file lives under the data directory at
-- path (relative to <data_dir>/helpdesk/attachments); content_type is
-- sniffed from the bytes, never taken from the sender.
CREATE TABLE helpdesk_attachments (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  ticket_id VARCHAR(36) NOT NULL,
  message_id VARCHAR(36) NOT NULL,
  filename VARCHAR(255) NOT NULL,
  content_type VARCHAR(255) NOT NULL,
  size BIGINT NOT NULL,
  sha256 CHAR(64) NOT NULL,
  path VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY ix_helpdesk_attachments_ticket (tenant_id, ticket_id, message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- E-mail Message-IDs of a ticket's messages: those that came in and the
-- contact module's ids of the replies that went out. A reply threads by
-- them; the key makes a second delivery of one e-mail a no-op.
CREATE TABLE helpdesk_mail_ids (
  tenant_id VARCHAR(36) NOT NULL,
  mail_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  direction VARCHAR(8) NOT NULL,
  ticket_id VARCHAR(36) NOT NULL,
  message_id VARCHAR(36) NOT NULL,
  sender VARCHAR(320) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, mail_id),
  KEY ix_helpdesk_mail_ids_sender (tenant_id, sender, created_at),
  KEY ix_helpdesk_mail_ids_message (tenant_id, message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The secret that authenticates a tenant's inbound e-mail: only its hash.
CREATE TABLE helpdesk_inbound_secrets (
  tenant_id VARCHAR(36) NOT NULL PRIMARY KEY,
  secret_hash CHAR(64) NOT NULL,
  created_by VARCHAR(100) NOT NULL,
  created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Satisfaction ratings, one per ticket.
ALTER TABLE helpdesk_tickets
  ADD COLUMN csat_rating VARCHAR(8) NULL,
  ADD COLUMN csat_comment TEXT NULL,
  ADD COLUMN csat_at DATETIME(6) NULL;
