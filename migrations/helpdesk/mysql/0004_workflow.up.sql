-- Merge: a merged ticket is closed and points at the ticket it went into.
ALTER TABLE helpdesk_tickets ADD COLUMN merged_into_id VARCHAR(36) NULL,
  ADD KEY ix_helpdesk_tickets_merged (tenant_id, merged_into_id);

-- Groups (teams) of agents. last_assignee_id is the round-robin cursor:
-- the member picked last, moved under the group row's lock.
CREATE TABLE helpdesk_groups (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(100) NOT NULL,
  round_robin TINYINT(1) NOT NULL DEFAULT 0,
  last_assignee_id VARCHAR(36) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_helpdesk_groups_name (tenant_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE helpdesk_group_members (
  group_id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (group_id, user_id),
  KEY ix_helpdesk_group_members_user (tenant_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Agents' presence: an away agent is skipped by round-robin.
CREATE TABLE helpdesk_agents (
  user_id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  away TINYINT(1) NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Links between two tickets, one per pair: lo_id < hi_id, and kind says
-- what hi is to lo (related, duplicate, parent, child).
CREATE TABLE helpdesk_ticket_links (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  lo_id VARCHAR(36) NOT NULL,
  hi_id VARCHAR(36) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  created_by VARCHAR(100) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_helpdesk_ticket_links_pair (tenant_id, lo_id, hi_id),
  KEY ix_helpdesk_ticket_links_hi (tenant_id, hi_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Customers who follow a ticket besides its requester: the requesters of
-- the tickets merged into it.
CREATE TABLE helpdesk_ticket_followers (
  ticket_id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  customer_id VARCHAR(36) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (ticket_id, customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Macros: canned actions (JSON) shared by the tenant or private to owner_id.
CREATE TABLE helpdesk_macros (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  owner_id VARCHAR(36) NULL,
  name VARCHAR(100) NOT NULL,
  actions TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  KEY ix_helpdesk_macros_list (tenant_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Canned responses: reply bodies with {{placeholders}}.
CREATE TABLE helpdesk_canned_responses (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  owner_id VARCHAR(36) NULL,
  name VARCHAR(100) NOT NULL,
  body MEDIUMTEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  KEY ix_helpdesk_canned_responses_list (tenant_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
