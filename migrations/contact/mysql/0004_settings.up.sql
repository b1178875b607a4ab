-- Each tenant's sending settings. No row: no quiet hours, UTC, no limits.
-- quiet_start and quiet_end are wall-clock "HH:MM" in the recipient's
-- time zone (time_zone when a message names none); both NULL: no quiet
-- hours. rate_per_minute and daily_quota: 0 is no limit.
CREATE TABLE contact_settings (
  tenant_id VARCHAR(36) NOT NULL PRIMARY KEY,
  quiet_start CHAR(5) NULL,
  quiet_end CHAR(5) NULL,
  time_zone VARCHAR(64) NOT NULL DEFAULT 'UTC',
  rate_per_minute INT NOT NULL DEFAULT 0,
  daily_quota INT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
