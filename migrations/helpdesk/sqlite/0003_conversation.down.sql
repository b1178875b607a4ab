ALTER TABLE helpdesk_tickets DROP COLUMN csat_at;
ALTER TABLE helpdesk_tickets DROP COLUMN csat_comment;
ALTER TABLE helpdesk_tickets DROP COLUMN csat_rating;
DROP TABLE helpdesk_inbound_secrets;
DROP TABLE helpdesk_mail_ids;
DROP TABLE helpdesk_attachments;
