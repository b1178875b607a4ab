DROP INDEX ix_helpdesk_tickets_csat ON helpdesk_tickets;
