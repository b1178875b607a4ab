-- Customers: the people who ask for help, one per e-mail address in a
-- tenant. tags and attributes are JSON text.
CREATE TABLE helpdesk_customers (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(200) NOT NULL DEFAULT '',
  email VARCHAR(320) NULL,
  phone VARCHAR(32) NOT NULL DEFAULT '',
  notes TEXT NOT NULL,
  tags TEXT NOT NULL,
  attributes TEXT NOT NULL,
  organization_id VARCHAR(36) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_helpdesk_customers_email (tenant_id, email),
  KEY ix_helpdesk_customers_list (tenant_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Organizations group customers.
CREATE TABLE helpdesk_organizations (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(200) NOT NULL,
  notes TEXT NOT NULL,
  attributes TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  KEY ix_helpdesk_organizations_list (tenant_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Tickets. version is bumped by every change: a PATCH names the version it
-- read and an UPDATE ... WHERE version = ? refuses a stale one.
CREATE TABLE helpdesk_tickets (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  subject VARCHAR(500) NOT NULL,
  status VARCHAR(16) NOT NULL,
  priority VARCHAR(16) NOT NULL,
  type VARCHAR(32) NOT NULL DEFAULT '',
  tags TEXT NOT NULL,
  requester_id VARCHAR(36) NOT NULL,
  assignee_id VARCHAR(36) NULL,
  group_id VARCHAR(36) NULL,
  channel VARCHAR(16) NOT NULL,
  version INT NOT NULL DEFAULT 1,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  solved_at DATETIME(6) NULL,
  closed_at DATETIME(6) NULL,
  KEY ix_helpdesk_tickets_list (tenant_id, created_at, id),
  KEY ix_helpdesk_tickets_requester (tenant_id, requester_id),
  KEY ix_helpdesk_tickets_assignee (tenant_id, assignee_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The conversation of a ticket; internal notes are for agents only.
CREATE TABLE helpdesk_messages (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  ticket_id VARCHAR(36) NOT NULL,
  author_kind VARCHAR(16) NOT NULL,
  author_id VARCHAR(36) NOT NULL,
  body MEDIUMTEXT NOT NULL,
  internal TINYINT(1) NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  KEY ix_helpdesk_messages_ticket (tenant_id, ticket_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every change of a ticket's fields, written in the change's transaction.
CREATE TABLE helpdesk_ticket_history (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  ticket_id VARCHAR(36) NOT NULL,
  actor VARCHAR(100) NOT NULL,
  field VARCHAR(32) NOT NULL,
  old_value TEXT NULL,
  new_value TEXT NULL,
  at DATETIME(6) NOT NULL,
  KEY ix_helpdesk_ticket_history_ticket (tenant_id, ticket_id, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
