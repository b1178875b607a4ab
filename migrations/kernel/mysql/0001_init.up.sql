-- Kernel schema: tenants, users, credentials, audit log, job ledger.
CREATE TABLE kernel_tenants (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  parent_id VARCHAR(36) NULL,
  path VARCHAR(1024) NOT NULL,
  name VARCHAR(200) NOT NULL,
  slug VARCHAR(100) NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'active',
  settings JSON NULL,
  version INT NOT NULL DEFAULT 1,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_kernel_tenants_slug (slug),
  KEY ix_kernel_tenants_parent (parent_id),
  KEY ix_kernel_tenants_path (path(191))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE kernel_users (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  email VARCHAR(254) NOT NULL,
  name VARCHAR(200) NOT NULL DEFAULT '',
  password_hash VARCHAR(255) NOT NULL,
  role VARCHAR(32) NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'active',
  totp_secret VARCHAR(255) NULL,
  last_login_at DATETIME(6) NULL,
  version INT NOT NULL DEFAULT 1,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_kernel_users_email (email),
  KEY ix_kernel_users_tenant (tenant_id, created_at),
  CONSTRAINT fk_kernel_users_tenant FOREIGN KEY (tenant_id) REFERENCES kernel_tenants (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE kernel_refresh_tokens (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  family_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  token_hash VARCHAR(64) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL,
  replaced_by VARCHAR(36) NULL,
  created_at DATETIME(6) NOT NULL,
  KEY ix_kernel_refresh_family (family_id),
  KEY ix_kernel_refresh_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE kernel_api_keys (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(200) NOT NULL,
  prefix VARCHAR(32) NOT NULL,
  key_hash VARCHAR(64) NOT NULL,
  scopes JSON NOT NULL,
  created_by VARCHAR(36) NULL,
  last_used_at DATETIME(6) NULL,
  expires_at DATETIME(6) NULL,
  revoked_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  KEY ix_kernel_api_keys_tenant (tenant_id, created_at),
  CONSTRAINT fk_kernel_api_keys_tenant FOREIGN KEY (tenant_id) REFERENCES kernel_tenants (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE kernel_audit_events (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NULL,
  actor_type VARCHAR(20) NOT NULL,
  actor_id VARCHAR(64) NOT NULL DEFAULT '',
  action VARCHAR(100) NOT NULL,
  target_type VARCHAR(50) NOT NULL DEFAULT '',
  target_id VARCHAR(64) NOT NULL DEFAULT '',
  ip VARCHAR(64) NOT NULL DEFAULT '',
  user_agent VARCHAR(255) NOT NULL DEFAULT '',
  request_id VARCHAR(64) NOT NULL DEFAULT '',
  data JSON NULL,
  created_at DATETIME(6) NOT NULL,
  KEY ix_kernel_audit_tenant (tenant_id, created_at),
  KEY ix_kernel_audit_action (action, created_at),
  KEY ix_kernel_audit_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE kernel_secrets (
  name VARCHAR(100) NOT NULL PRIMARY KEY,
  value VARCHAR(512) NOT NULL,
  created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE kernel_jobs (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  type VARCHAR(200) NOT NULL,
  queue VARCHAR(64) NOT NULL,
  payload LONGBLOB NOT NULL,
  tenant_id VARCHAR(36) NULL,
  unique_key VARCHAR(255) NULL,
  unique_until DATETIME(6) NULL,
  state VARCHAR(20) NOT NULL,
  run_at DATETIME(6) NOT NULL,
  max_retry INT NOT NULL,
  timeout_ms BIGINT NOT NULL DEFAULT 0,
  attempts INT NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  enqueued_at DATETIME(6) NULL,
  completed_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_kernel_jobs_unique (unique_key),
  KEY ix_kernel_jobs_state (state, enqueued_at),
  KEY ix_kernel_jobs_completed (completed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE kernel_schedules (
  name VARCHAR(200) NOT NULL PRIMARY KEY,
  spec VARCHAR(100) NOT NULL,
  last_run_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE kernel_sessions (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  user_id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  acting_tenant_id VARCHAR(36) NULL,
  token_hash VARCHAR(64) NOT NULL,
  ip VARCHAR(64) NOT NULL DEFAULT '',
  user_agent VARCHAR(255) NOT NULL DEFAULT '',
  expires_at DATETIME(6) NOT NULL,
  last_seen_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  KEY ix_kernel_sessions_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
