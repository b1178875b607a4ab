INSERT INTO helpdesk_search_fts (helpdesk_search_fts, rank) VALUES ('automerge', 4);
