-- Full-text indexing leaves the writing transaction: a new ticket or
-- message only queues its id here, and the module's indexer (search_index.go)
-- moves queued rows into helpdesk_search_docs and helpdesk_search_fts in
-- batches, before every search and in the background after each commit.
-- Writing FTS5 row by row doubled the cost of a ticket create. Updates and
-- deletes keep their triggers from 0005.
CREATE TABLE helpdesk_search_pending (
  id INTEGER PRIMARY KEY,
  kind INTEGER NOT NULL, -- 0: a ticket's subject; 1: a message
  source_id TEXT NOT NULL
);
DROP TRIGGER helpdesk_search_ticket_insert;
DROP TRIGGER helpdesk_search_message_insert;
CREATE TRIGGER helpdesk_search_ticket_insert AFTER INSERT ON helpdesk_tickets BEGIN
  INSERT INTO helpdesk_search_pending (kind, source_id) VALUES (0, NEW.id); END;
CREATE TRIGGER helpdesk_search_message_insert AFTER INSERT ON helpdesk_messages BEGIN
  INSERT INTO helpdesk_search_pending (kind, source_id) VALUES (1, NEW.id); END;
