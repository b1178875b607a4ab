DROP TABLE helpdesk_ticket_history;
DROP TABLE helpdesk_messages;
DROP TABLE helpdesk_tickets;
DROP TABLE helpdesk_organizations;
DROP TABLE helpdesk_customers;
