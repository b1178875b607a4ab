DROP TABLE probe_runs;
