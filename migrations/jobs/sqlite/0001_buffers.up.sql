-- Buffered items: ready until a flush puts them in a batch, deleted when
-- their batch's handler succeeds, dead when it has failed for good.
CREATE TABLE jobs_buffer_items (
  id TEXT NOT NULL PRIMARY KEY,
  buffer TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  state TEXT NOT NULL,
  batch_id TEXT NULL,
  data BLOB NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE INDEX ix_jobs_buffer_items_claim ON jobs_buffer_items (buffer, tenant_id, state, id);
CREATE INDEX ix_jobs_buffer_items_batch ON jobs_buffer_items (batch_id);

-- Each tenant's schedule of a buffer; NULL schedule and batch_size follow
-- the buffer's defaults.
CREATE TABLE jobs_buffer_settings (
  buffer TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  schedule TEXT NULL,
  batch_size INTEGER NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  next_flush_at DATETIME NOT NULL,
  last_flush_at DATETIME NULL,
  updated_at DATETIME NOT NULL,
  PRIMARY KEY (buffer, tenant_id)
);
CREATE INDEX ix_jobs_buffer_settings_due ON jobs_buffer_settings (next_flush_at);
