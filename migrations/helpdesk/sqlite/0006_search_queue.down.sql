-- Index what is still queued, then go back to indexing in the writing
-- transaction.
INSERT OR IGNORE INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal)
  SELECT t.tenant_id, t.id, t.id, 0 FROM helpdesk_search_pending p JOIN helpdesk_tickets t ON t.id = p.source_id WHERE p.kind = 0 ORDER BY p.id;
INSERT OR IGNORE INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal)
  SELECT m.tenant_id, m.ticket_id, m.id, m.internal FROM helpdesk_search_pending p JOIN helpdesk_messages m ON m.id = p.source_id WHERE p.kind = 1 ORDER BY p.id;
INSERT INTO helpdesk_search_fts (rowid, subject, body)
  SELECT d.id, t.subject, '' FROM helpdesk_search_docs d JOIN helpdesk_tickets t ON t.id = d.source_id
  WHERE d.id NOT IN (SELECT rowid FROM helpdesk_search_fts);
INSERT INTO helpdesk_search_fts (rowid, subject, body)
  SELECT d.id, '', m.body FROM helpdesk_search_docs d JOIN helpdesk_messages m ON m.id = d.source_id
  WHERE d.id NOT IN (SELECT rowid FROM helpdesk_search_fts);
DROP TRIGGER helpdesk_search_ticket_insert;
DROP TRIGGER helpdesk_search_message_insert;
DROP TABLE helpdesk_search_pending;
CREATE TRIGGER helpdesk_search_ticket_insert AFTER INSERT ON helpdesk_tickets BEGIN
  INSERT INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal) VALUES (NEW.tenant_id, NEW.id, NEW.id, 0); INSERT INTO helpdesk_search_fts (rowid, subject, body) SELECT id, NEW.subject, '' FROM helpdesk_search_docs WHERE source_id = NEW.id; END;
CREATE TRIGGER helpdesk_search_message_insert AFTER INSERT ON helpdesk_messages BEGIN
  INSERT INTO helpdesk_search_docs (tenant_id, ticket_id, source_id, internal) VALUES (NEW.tenant_id, NEW.ticket_id, NEW.id, NEW.internal); INSERT INTO helpdesk_search_fts (rowid, subject, body) SELECT id, '', NEW.body FROM helpdesk_search_docs WHERE source_id = NEW.id; END;
