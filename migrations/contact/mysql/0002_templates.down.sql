DROP TABLE contact_templates;
