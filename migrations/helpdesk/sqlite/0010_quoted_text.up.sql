-- The quoted tail of an e-mailed reply, cut from its body (quoted.go):
-- kept, not shown by default.
ALTER TABLE helpdesk_messages ADD COLUMN quoted_text TEXT NULL;
