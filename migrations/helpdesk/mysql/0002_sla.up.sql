-- Reserved for the sla change; filled in by it.
SELECT 1;
