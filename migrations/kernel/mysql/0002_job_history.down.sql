ALTER TABLE kernel_jobs DROP COLUMN deadline;
DROP TABLE kernel_job_attempts;
