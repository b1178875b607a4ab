DROP TABLE helpdesk_views;
ALTER TABLE helpdesk_messages DROP INDEX ft_helpdesk_messages_body;
ALTER TABLE helpdesk_tickets DROP INDEX ft_helpdesk_tickets_subject;
ALTER TABLE helpdesk_tickets
  DROP INDEX ix_helpdesk_tickets_status_created,
  DROP INDEX ix_helpdesk_tickets_status_updated,
  DROP INDEX ix_helpdesk_tickets_updated;
