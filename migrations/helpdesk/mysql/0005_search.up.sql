-- Indexes for the ticket lists: the tenant first, then the usual filter
-- (status), then the sort key and id for keyset pages.
ALTER TABLE helpdesk_tickets
  ADD KEY ix_helpdesk_tickets_updated (tenant_id, updated_at, id),
  ADD KEY ix_helpdesk_tickets_status_updated (tenant_id, status, updated_at, id),
  ADD KEY ix_helpdesk_tickets_status_created (tenant_id, status, created_at, id);

-- Full-text search (InnoDB FULLTEXT, one index per ALTER). InnoDB leaves
-- out words shorter than innodb_ft_min_token_size (3) and its stopwords;
-- the module drops those from queries.
ALTER TABLE helpdesk_tickets ADD FULLTEXT KEY ft_helpdesk_tickets_subject (subject);
ALTER TABLE helpdesk_messages ADD FULLTEXT KEY ft_helpdesk_messages_body (body);

-- Saved views: an agent's named ticket list. params holds the list's query
-- parameters (filters, q, sort, order) URL-encoded; a shared view is seen
-- by every agent of the tenant.
CREATE TABLE helpdesk_views (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  owner_id VARCHAR(36) NOT NULL,
  name VARCHAR(100) NOT NULL,
  params TEXT NOT NULL,
  shared TINYINT(1) NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  KEY ix_helpdesk_views_owner (tenant_id, owner_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
