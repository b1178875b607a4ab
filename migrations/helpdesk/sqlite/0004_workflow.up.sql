-- Merge: a merged ticket is closed and points at the ticket it went into.
ALTER TABLE helpdesk_tickets ADD COLUMN merged_into_id TEXT NULL;
CREATE INDEX ix_helpdesk_tickets_merged ON helpdesk_tickets (tenant_id, merged_into_id);

-- Groups (teams) of agents. last_assignee_id is the round-robin cursor:
-- the member picked last, moved under the group row's lock.
CREATE TABLE helpdesk_groups (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  round_robin INTEGER NOT NULL DEFAULT 0,
  last_assignee_id TEXT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_helpdesk_groups_name ON helpdesk_groups (tenant_id, name);

CREATE TABLE helpdesk_group_members (
  group_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX ix_helpdesk_group_members_user ON helpdesk_group_members (tenant_id, user_id);

-- Agents' presence: an away agent is skipped by round-robin.
CREATE TABLE helpdesk_agents (
  user_id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  away INTEGER NOT NULL DEFAULT 0,
  updated_at DATETIME NOT NULL
);

-- Links between two tickets, one per pair: lo_id < hi_id, and kind says
-- what hi is to lo (related, duplicate, parent, child).
CREATE TABLE helpdesk_ticket_links (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  lo_id TEXT NOT NULL,
  hi_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_helpdesk_ticket_links_pair ON helpdesk_ticket_links (tenant_id, lo_id, hi_id);
CREATE INDEX ix_helpdesk_ticket_links_hi ON helpdesk_ticket_links (tenant_id, hi_id);

-- Customers who follow a ticket besides its requester: the requesters of
-- the tickets merged into it.
CREATE TABLE helpdesk_ticket_followers (
  ticket_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  PRIMARY KEY (ticket_id, customer_id)
);

-- Macros: canned actions (JSON) shared by the tenant or private to owner_id.
CREATE TABLE helpdesk_macros (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  owner_id TEXT NULL,
  name TEXT NOT NULL,
  actions TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE INDEX ix_helpdesk_macros_list ON helpdesk_macros (tenant_id, name);

-- Canned responses: reply bodies with {{placeholders}}.
CREATE TABLE helpdesk_canned_responses (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  owner_id TEXT NULL,
  name TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE INDEX ix_helpdesk_canned_responses_list ON helpdesk_canned_responses (tenant_id, name);
