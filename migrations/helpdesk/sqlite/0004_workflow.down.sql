DROP TABLE helpdesk_canned_responses;
DROP TABLE helpdesk_macros;
DROP TABLE helpdesk_ticket_followers;
DROP TABLE helpdesk_ticket_links;
DROP TABLE helpdesk_agents;
DROP TABLE helpdesk_group_members;
DROP TABLE helpdesk_groups;
DROP INDEX ix_helpdesk_tickets_merged;
ALTER TABLE helpdesk_tickets DROP COLUMN merged_into_id;
