-- The e2e probe's record of job runs (test builds only, -tags e2eprobe).
CREATE TABLE probe_runs (
  job_id VARCHAR(36) NOT NULL PRIMARY KEY,
  runs INT NOT NULL,
  first_run_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
