-- Indexes for the ticket lists: the tenant first, then the usual filter
-- (status), then the sort key and id for keyset pages.
CREATE INDEX ix_helpdesk_tickets_updated ON helpdesk_tickets (tenant_id, updated_at, id);
CREATE INDEX ix_helpdesk_tickets_status_updated ON helpdesk_tickets (tenant_id, status, updated_at, id);
CREATE INDEX ix_helpdesk_tickets_status_created ON helpdesk_tickets (tenant_id, status, created_at, id);

-- Full-text search. A search document is a ticket's subject (source_id is
-- the ticket's id) or one message (source_id is the message's id); its id is
-- the rowid of its row in the FTS5 table, which holds the text in two
-- columns (subject, body) so that ranking weighs subjects higher. internal
-- marks notes, which customers' searches never match.
CREATE TABLE helpdesk_search_docs (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  ticket_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  internal INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_helpdesk_search_docs_source ON helpdesk_search_docs (source_id);
CREATE INDEX ix_helpdesk_search_docs_ticket ON helpdesk_search_docs (ticket_id);
CREATE VIRTUAL TABLE helpdesk_search_fts USING fts5(subject, body, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');
INSERT INTO helpdesk_search_fts (helpdesk_search_fts, rank) VALUES ('rank', 'bm25(4.0, 1.0)');

-- Triggers keep the index in step with tickets and messages, in the
-- writing transaction. The statements of a trigger end mid-line: the
-- migrator splits scripts at a ';' that ends a line.
CREATE TRIGGER helpdesk_search_ticket_insert AFTER INSERT ON helpdesk_tickets BEGIN
  INSERT INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal) VALUES (NEW.tenant_id, NEW.id, NEW.id, 0); INSERT INTO helpdesk_search_fts (rowid, subject, body) SELECT id, NEW.subject, '' FROM helpdesk_search_docs WHERE source_id = NEW.id; END;
CREATE TRIGGER helpdesk_search_ticket_update AFTER UPDATE OF subject ON helpdesk_tickets WHEN NEW.subject IS NOT OLD.subject BEGIN
  UPDATE helpdesk_search_fts SET subject = NEW.subject WHERE rowid = (SELECT id FROM helpdesk_search_docs WHERE source_id = NEW.id); END;
CREATE TRIGGER helpdesk_search_ticket_delete AFTER DELETE ON helpdesk_tickets BEGIN
  DELETE FROM helpdesk_search_fts WHERE rowid IN (SELECT id FROM helpdesk_search_docs WHERE ticket_id = OLD.id); DELETE FROM helpdesk_search_docs WHERE ticket_id = OLD.id; END;
CREATE TRIGGER helpdesk_search_message_insert AFTER INSERT ON helpdesk_messages BEGIN
  INSERT INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal) VALUES (NEW.tenant_id, NEW.ticket_id, NEW.id, NEW.internal); INSERT INTO helpdesk_search_fts (rowid, subject, body) SELECT id, '', NEW.body FROM helpdesk_search_docs WHERE source_id = NEW.id; END;
CREATE TRIGGER helpdesk_search_message_update AFTER UPDATE OF ticket_id, internal, body ON helpdesk_messages BEGIN
  UPDATE helpdesk_search_docs SET ticket_id = NEW.ticket_id, internal = NEW.internal WHERE source_id = NEW.id; UPDATE helpdesk_search_fts SET body = NEW.body WHERE NEW.body IS NOT OLD.body AND rowid = (SELECT id FROM helpdesk_search_docs WHERE source_id = NEW.id); END;
CREATE TRIGGER helpdesk_search_message_delete AFTER DELETE ON helpdesk_messages BEGIN
  DELETE FROM helpdesk_search_fts WHERE rowid = (SELECT id FROM helpdesk_search_docs WHERE source_id = OLD.id); DELETE FROM helpdesk_search_docs WHERE source_id = OLD.id; END;

-- Index what is already there.
INSERT INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal) SELECT tenant_id, id, id, 0 FROM helpdesk_tickets;
INSERT INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal) SELECT tenant_id, ticket_id, id, internal FROM helpdesk_messages;
INSERT INTO helpdesk_search_fts (rowid, subject, body) SELECT d.id, t.subject, '' FROM helpdesk_search_docs d JOIN helpdesk_tickets t ON t.id = d.source_id;
INSERT INTO helpdesk_search_fts (rowid, subject, body) SELECT d.id, '', m.body FROM helpdesk_search_docs d JOIN helpdesk_messages m ON m.id = d.source_id;

-- Saved views: an agent's named ticket list. params holds the list's query
-- parameters (filters, q, sort, order) URL-encoded; a shared view is seen
-- by every agent of the tenant.
CREATE TABLE helpdesk_views (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  name TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '',
  shared INTEGER NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE INDEX ix_helpdesk_views_owner ON helpdesk_views (tenant_id, owner_id);
