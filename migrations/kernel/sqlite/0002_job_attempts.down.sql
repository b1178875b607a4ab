DROP TABLE kernel_job_attempts;
