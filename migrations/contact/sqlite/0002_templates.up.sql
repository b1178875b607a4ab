-- Templates: each tenant's message templates, one per key, locale and
-- channel. locale '' is the default that every locale falls back to.
CREATE TABLE contact_templates (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  "key" TEXT NOT NULL,
  locale TEXT NOT NULL DEFAULT '',
  channel TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  text TEXT NOT NULL DEFAULT '',
  html TEXT NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_contact_templates_key ON contact_templates (tenant_id, "key", locale, channel);
