-- Business-hours calendars of a tenant. week is a JSON object of weekday
-- ("mon".."sun") to intervals ("09:00-17:00"); holidays a JSON list of
-- dates ("2026-12-24", or "12-25" every year). is_default is 1 on the
-- tenant's default calendar and NULL on the others, so that the unique
-- index allows one default per tenant.
CREATE TABLE helpdesk_calendars (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(200) NOT NULL,
  zone VARCHAR(64) NOT NULL,
  week TEXT NOT NULL,
  holidays TEXT NOT NULL,
  is_default TINYINT(1) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_helpdesk_calendars_name (tenant_id, name),
  UNIQUE KEY ux_helpdesk_calendars_default (tenant_id, is_default)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- SLA policies: per-priority targets in business minutes (targets is a JSON
-- object of priority to {"first_response","resolution"}), counted on a
-- calendar (NULL: the tenant's default calendar, or around the clock).
-- channels and tags (JSON lists) narrow which tickets a policy applies to;
-- the first match by position wins, else the default policy.
CREATE TABLE helpdesk_sla_policies (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(200) NOT NULL,
  calendar_id VARCHAR(36) NULL,
  targets TEXT NOT NULL,
  pause_when_pending TINYINT(1) NOT NULL DEFAULT 0,
  channels TEXT NOT NULL,
  tags TEXT NOT NULL,
  position INT NOT NULL DEFAULT 0,
  is_default TINYINT(1) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_helpdesk_sla_policies_name (tenant_id, name),
  UNIQUE KEY ux_helpdesk_sla_policies_default (tenant_id, is_default),
  KEY ix_helpdesk_sla_policies_calendar (tenant_id, calendar_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A ticket's SLA clocks. sla_paused_at is when the resolution clock stopped
-- (pending under a pausing policy, or solved); sla_paused_seconds the
-- business time it stood still before. The *_breached_at markers are set
-- once. sla_next_due_at is the earliest due time still watched, so that
-- the breach sweep reads only tickets that can breach.
ALTER TABLE helpdesk_tickets
  ADD COLUMN sla_policy_id VARCHAR(36) NULL,
  ADD COLUMN first_response_due_at DATETIME(6) NULL,
  ADD COLUMN resolution_due_at DATETIME(6) NULL,
  ADD COLUMN first_responded_at DATETIME(6) NULL,
  ADD COLUMN sla_paused_at DATETIME(6) NULL,
  ADD COLUMN sla_paused_seconds BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN first_response_breached_at DATETIME(6) NULL,
  ADD COLUMN resolution_breached_at DATETIME(6) NULL,
  ADD COLUMN sla_next_due_at DATETIME(6) NULL,
  ADD KEY ix_helpdesk_tickets_sla_next (sla_next_due_at);
