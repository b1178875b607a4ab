-- Customers: the people who ask for help, one per e-mail address in a
-- tenant. tags and attributes are JSON text.
CREATE TABLE helpdesk_customers (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  email TEXT NULL,
  phone TEXT NOT NULL DEFAULT '',
  notes TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '[]',
  attributes TEXT NOT NULL DEFAULT '{}',
  organization_id TEXT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_helpdesk_customers_email ON helpdesk_customers (tenant_id, email);
CREATE INDEX ix_helpdesk_customers_list ON helpdesk_customers (tenant_id, created_at);

-- Organizations group customers.
CREATE TABLE helpdesk_organizations (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  notes TEXT NOT NULL DEFAULT '',
  attributes TEXT NOT NULL DEFAULT '{}',
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE INDEX ix_helpdesk_organizations_list ON helpdesk_organizations (tenant_id, name);

-- Tickets. version is bumped by every change: a PATCH names the version it
-- read and an UPDATE ... WHERE version = ? refuses a stale one.
CREATE TABLE helpdesk_tickets (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  status TEXT NOT NULL,
  priority TEXT NOT NULL,
  type TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '[]',
  requester_id TEXT NOT NULL,
  assignee_id TEXT NULL,
  group_id TEXT NULL,
  channel TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  solved_at DATETIME NULL,
  closed_at DATETIME NULL
);
CREATE INDEX ix_helpdesk_tickets_list ON helpdesk_tickets (tenant_id, created_at, id);
CREATE INDEX ix_helpdesk_tickets_requester ON helpdesk_tickets (tenant_id, requester_id);
CREATE INDEX ix_helpdesk_tickets_assignee ON helpdesk_tickets (tenant_id, assignee_id);

-- The conversation of a ticket; internal notes are for agents only.
CREATE TABLE helpdesk_messages (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  ticket_id TEXT NOT NULL,
  author_kind TEXT NOT NULL,
  author_id TEXT NOT NULL,
  body TEXT NOT NULL,
  internal INTEGER NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL
);
CREATE INDEX ix_helpdesk_messages_ticket ON helpdesk_messages (tenant_id, ticket_id, created_at);

-- Every change of a ticket's fields, written in the change's transaction.
CREATE TABLE helpdesk_ticket_history (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  ticket_id TEXT NOT NULL,
  actor TEXT NOT NULL,
  field TEXT NOT NULL,
  old_value TEXT NULL,
  new_value TEXT NULL,
  at DATETIME NOT NULL
);
CREATE INDEX ix_helpdesk_ticket_history_ticket ON helpdesk_ticket_history (tenant_id, ticket_id, at);
