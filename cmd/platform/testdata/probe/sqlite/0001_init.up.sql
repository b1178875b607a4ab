-- The e2e probe's record of job runs (test builds only, -tags e2eprobe).
CREATE TABLE probe_runs (
  job_id TEXT NOT NULL PRIMARY KEY,
  runs INTEGER NOT NULL,
  first_run_at DATETIME NOT NULL
);
