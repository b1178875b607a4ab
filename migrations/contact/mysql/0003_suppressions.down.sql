DROP INDEX ix_contact_messages_provider_ref ON contact_messages;
DROP TABLE contact_callback_events;
DROP TABLE contact_suppressions;
