-- One row per failed attempt of a job: the retry history admins read. A
-- success writes nothing here, so the queue's fast path does not pay for it.
CREATE TABLE kernel_job_attempts (
  job_id VARCHAR(36) NOT NULL,
  attempt INT NOT NULL,
  error TEXT NOT NULL,
  failed_at DATETIME(6) NOT NULL,
  PRIMARY KEY (job_id, attempt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A job's deadline: it is archived unrun if it has not started by then.
ALTER TABLE kernel_jobs ADD COLUMN deadline DATETIME(6) NULL;
