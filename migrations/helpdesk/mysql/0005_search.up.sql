-- Reserved for the search change; filled in by it.
SELECT 1;
