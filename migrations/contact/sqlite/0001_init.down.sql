DROP TABLE contact_outbox;
DROP TABLE contact_providers;
DROP TABLE contact_message_events;
DROP TABLE contact_messages;
