-- The store queues new tickets and messages for the full-text index itself
-- (search_index.go): a statement that fires a trigger makes SQLite keep a
-- statement journal of every page it touches, which cost a tenth of a
-- ticket create's CPU. Edits and deletes keep their triggers.
DROP TRIGGER helpdesk_search_ticket_insert;
DROP TRIGGER helpdesk_search_message_insert;
