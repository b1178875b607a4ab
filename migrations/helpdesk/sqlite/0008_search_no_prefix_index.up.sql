-- The full-text index without FTS5's prefix indexes (prefix = '2 3'). They
-- stored every word three times over (whole, first 2 and first 3 letters),
-- which doubled the cost of indexing a ticket or message and the index's
-- size; a prefix query ("jam" for "jammed") reads the range of whole words
-- instead, which stays fast at helpdesk sizes. The triggers of 0005 refer
-- to the table by name and go on working.
DROP TABLE helpdesk_search_fts;
CREATE VIRTUAL TABLE helpdesk_search_fts USING fts5(subject, body, tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO helpdesk_search_fts (helpdesk_search_fts, rank) VALUES ('rank', 'bm25(4.0, 1.0)');
INSERT INTO helpdesk_search_fts (rowid, subject, body)
  SELECT d.id, t.subject, '' FROM helpdesk_search_docs d JOIN helpdesk_tickets t ON t.id = d.source_id;
INSERT INTO helpdesk_search_fts (rowid, subject, body)
  SELECT d.id, '', m.body FROM helpdesk_search_docs d JOIN helpdesk_messages m ON m.id = d.source_id;
