-- Business-hours calendars of a tenant. week is a JSON object of weekday
-- ("mon".."sun") to intervals ("09:00-17:00"); holidays a JSON list of
-- dates ("2026-12-24", or "12-25" every year). is_default is 1 on the
-- tenant's default calendar and NULL on the others, so that the unique
-- index allows one default per tenant.
CREATE TABLE helpdesk_calendars (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  zone TEXT NOT NULL,
  week TEXT NOT NULL,
  holidays TEXT NOT NULL DEFAULT '[]',
  is_default INTEGER NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_helpdesk_calendars_name ON helpdesk_calendars (tenant_id, name);
CREATE UNIQUE INDEX ux_helpdesk_calendars_default ON helpdesk_calendars (tenant_id, is_default);

-- SLA policies: per-priority targets in business minutes (targets is a JSON
-- object of priority to {"first_response","resolution"}), counted on a
-- calendar (NULL: the tenant's default calendar, or around the clock).
-- channels and tags (JSON lists) narrow which tickets a policy applies to;
-- the first match by position wins, else the default policy.
CREATE TABLE helpdesk_sla_policies (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  calendar_id TEXT NULL,
  targets TEXT NOT NULL,
  pause_when_pending INTEGER NOT NULL DEFAULT 0,
  channels TEXT NOT NULL DEFAULT '[]',
  tags TEXT NOT NULL DEFAULT '[]',
  position INTEGER NOT NULL DEFAULT 0,
  is_default INTEGER NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_helpdesk_sla_policies_name ON helpdesk_sla_policies (tenant_id, name);
CREATE UNIQUE INDEX ux_helpdesk_sla_policies_default ON helpdesk_sla_policies (tenant_id, is_default);
CREATE INDEX ix_helpdesk_sla_policies_calendar ON helpdesk_sla_policies (tenant_id, calendar_id);

-- A ticket's SLA clocks. sla_paused_at is when the resolution clock stopped
-- (pending under a pausing policy, or solved); sla_paused_seconds the
-- business time it stood still before. The *_breached_at markers are set
-- once. sla_next_due_at is the earliest due time still watched, so that
-- the breach sweep reads only tickets that can breach.
ALTER TABLE helpdesk_tickets ADD COLUMN sla_policy_id TEXT NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN first_response_due_at DATETIME NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN resolution_due_at DATETIME NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN first_responded_at DATETIME NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN sla_paused_at DATETIME NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN sla_paused_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE helpdesk_tickets ADD COLUMN first_response_breached_at DATETIME NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN resolution_breached_at DATETIME NULL;
ALTER TABLE helpdesk_tickets ADD COLUMN sla_next_due_at DATETIME NULL;
CREATE INDEX ix_helpdesk_tickets_sla_next ON helpdesk_tickets (sla_next_due_at);
