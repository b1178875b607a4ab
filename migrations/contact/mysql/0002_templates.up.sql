-- Templates: each tenant's message templates, one per key, locale and
-- channel. locale '' is the default that every locale falls back to.
CREATE TABLE contact_templates (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  `key` VARCHAR(200) NOT NULL,
  locale VARCHAR(35) NOT NULL DEFAULT '',
  channel VARCHAR(16) NOT NULL,
  subject VARCHAR(998) NOT NULL DEFAULT '',
  text MEDIUMTEXT NOT NULL,
  html MEDIUMTEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_contact_templates_key (tenant_id, `key`, locale, channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
