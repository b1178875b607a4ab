DROP TABLE helpdesk_canned_responses;
DROP TABLE helpdesk_macros;
DROP TABLE helpdesk_ticket_followers;
DROP TABLE helpdesk_ticket_links;
DROP TABLE helpdesk_agents;
DROP TABLE helpdesk_group_members;
DROP TABLE helpdesk_groups;
ALTER TABLE helpdesk_tickets DROP KEY ix_helpdesk_tickets_merged, DROP COLUMN merged_into_id;
