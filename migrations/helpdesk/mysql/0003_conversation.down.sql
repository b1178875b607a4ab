-- Reserved for the conversation change; filled in by it.
SELECT 1;
