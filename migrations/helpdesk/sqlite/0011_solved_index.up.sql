-- Solved tickets close on their own after a while (autoclose.go): the
-- sweep finds them by status and the time they were solved.
CREATE INDEX ix_helpdesk_tickets_solved ON helpdesk_tickets (status, solved_at);
