-- Reserved for the workflow change; filled in by it.
SELECT 1;
