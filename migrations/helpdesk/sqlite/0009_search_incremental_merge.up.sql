-- FTS5 merges its index segments itself after a write ('automerge', 4 by
-- default), and a merge's size grows with the index: on a 60,000-document
-- index most batches of 32 documents took 2 ms and one in a hundred took
-- 30-150 ms (sqlite3 shell), all under SQLite's one write lock while every
-- other writer waits. The indexer now merges a bounded amount of pages
-- after each batch instead (search_index.go), so no write waits long.
INSERT INTO helpdesk_search_fts (helpdesk_search_fts, rank) VALUES ('automerge', 0);
