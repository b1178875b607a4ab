DROP TABLE contact_settings;
