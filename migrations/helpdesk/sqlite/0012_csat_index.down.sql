DROP INDEX ix_helpdesk_tickets_csat;
