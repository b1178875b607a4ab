DROP TABLE kernel_schedules;
DROP TABLE kernel_jobs;
DROP TABLE kernel_secrets;
DROP TABLE kernel_audit_events;
DROP TABLE kernel_api_keys;
DROP TABLE kernel_refresh_tokens;
DROP TABLE kernel_users;
DROP TABLE kernel_tenants;
