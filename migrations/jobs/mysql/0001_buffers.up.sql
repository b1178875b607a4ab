-- Buffered items: ready until a flush puts them in a batch, deleted when
-- their batch's handler succeeds, dead when it has failed for good.
CREATE TABLE jobs_buffer_items (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  buffer VARCHAR(100) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  state VARCHAR(16) NOT NULL,
  batch_id VARCHAR(36) NULL,
  data LONGBLOB NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  KEY ix_jobs_buffer_items_claim (buffer, tenant_id, state, id),
  KEY ix_jobs_buffer_items_batch (batch_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Each tenant's schedule of a buffer; NULL schedule and batch_size follow
-- the buffer's defaults.
CREATE TABLE jobs_buffer_settings (
  buffer VARCHAR(100) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  schedule VARCHAR(100) NULL,
  batch_size INT NULL,
  paused TINYINT(1) NOT NULL DEFAULT 0,
  next_flush_at DATETIME(6) NOT NULL,
  last_flush_at DATETIME(6) NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (buffer, tenant_id),
  KEY ix_jobs_buffer_settings_due (next_flush_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
