-- The satisfaction report reads a tenant's tickets rated in a period
-- (reports.go).
CREATE INDEX ix_helpdesk_tickets_csat ON helpdesk_tickets (tenant_id, csat_at);
