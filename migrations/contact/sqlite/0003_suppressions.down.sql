DROP INDEX ix_contact_messages_provider_ref;
DROP TABLE contact_callback_events;
DROP TABLE contact_suppressions;
