-- Each tenant's sending settings. No row: no quiet hours, UTC, no limits.
-- quiet_start and quiet_end are wall-clock "HH:MM" in the recipient's
-- time zone (time_zone when a message names none); both NULL: no quiet
-- hours. rate_per_minute and daily_quota: 0 is no limit.
CREATE TABLE contact_settings (
  tenant_id TEXT NOT NULL PRIMARY KEY,
  quiet_start TEXT NULL,
  quiet_end TEXT NULL,
  time_zone TEXT NOT NULL DEFAULT 'UTC',
  rate_per_minute INTEGER NOT NULL DEFAULT 0,
  daily_quota INTEGER NOT NULL DEFAULT 0,
  updated_at DATETIME NOT NULL
);
