ALTER TABLE helpdesk_messages DROP COLUMN quoted_text;
