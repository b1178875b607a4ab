-- Kernel schema: tenants, users, credentials, audit log, job ledger.
CREATE TABLE kernel_tenants (
  id TEXT NOT NULL PRIMARY KEY,
  parent_id TEXT NULL,
  path TEXT NOT NULL,
  name TEXT NOT NULL,
  slug TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active',
  settings TEXT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_kernel_tenants_slug ON kernel_tenants (slug);
CREATE INDEX ix_kernel_tenants_parent ON kernel_tenants (parent_id);
CREATE INDEX ix_kernel_tenants_path ON kernel_tenants (path);

CREATE TABLE kernel_users (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES kernel_tenants (id),
  email TEXT NOT NULL COLLATE NOCASE,
  name TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active',
  totp_secret TEXT NULL,
  last_login_at DATETIME NULL,
  version INTEGER NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_kernel_users_email ON kernel_users (email);
CREATE INDEX ix_kernel_users_tenant ON kernel_users (tenant_id, created_at);

CREATE TABLE kernel_refresh_tokens (
  id TEXT NOT NULL PRIMARY KEY,
  family_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  expires_at DATETIME NOT NULL,
  revoked_at DATETIME NULL,
  replaced_by TEXT NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX ix_kernel_refresh_family ON kernel_refresh_tokens (family_id);
CREATE INDEX ix_kernel_refresh_user ON kernel_refresh_tokens (user_id);

CREATE TABLE kernel_api_keys (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES kernel_tenants (id),
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_by TEXT NULL,
  last_used_at DATETIME NULL,
  expires_at DATETIME NULL,
  revoked_at DATETIME NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX ix_kernel_api_keys_tenant ON kernel_api_keys (tenant_id, created_at);

CREATE TABLE kernel_audit_events (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NULL,
  actor_type TEXT NOT NULL,
  actor_id TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL,
  target_type TEXT NOT NULL DEFAULT '',
  target_id TEXT NOT NULL DEFAULT '',
  ip TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT '',
  data TEXT NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX ix_kernel_audit_tenant ON kernel_audit_events (tenant_id, created_at);
CREATE INDEX ix_kernel_audit_action ON kernel_audit_events (action, created_at);
CREATE INDEX ix_kernel_audit_created ON kernel_audit_events (created_at);

CREATE TABLE kernel_secrets (
  name TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL,
  created_at DATETIME NOT NULL
);

CREATE TABLE kernel_jobs (
  id TEXT NOT NULL PRIMARY KEY,
  type TEXT NOT NULL,
  queue TEXT NOT NULL,
  payload BLOB NOT NULL,
  tenant_id TEXT NULL,
  unique_key TEXT NULL,
  unique_until DATETIME NULL,
  state TEXT NOT NULL,
  run_at DATETIME NOT NULL,
  max_retry INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  enqueued_at DATETIME NULL,
  completed_at DATETIME NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_kernel_jobs_unique ON kernel_jobs (unique_key);
CREATE INDEX ix_kernel_jobs_state ON kernel_jobs (state, enqueued_at);
CREATE INDEX ix_kernel_jobs_completed ON kernel_jobs (completed_at);

CREATE TABLE kernel_schedules (
  name TEXT NOT NULL PRIMARY KEY,
  spec TEXT NOT NULL,
  last_run_at DATETIME NOT NULL
);

CREATE TABLE kernel_sessions (
  id TEXT NOT NULL PRIMARY KEY,
  user_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  acting_tenant_id TEXT NULL,
  token_hash TEXT NOT NULL,
  ip TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  expires_at DATETIME NOT NULL,
  last_seen_at DATETIME NOT NULL,
  revoked_at DATETIME NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX ix_kernel_sessions_user ON kernel_sessions (user_id);
