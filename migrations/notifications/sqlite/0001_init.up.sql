-- A notification as it was sent: what it says, to whom, and its
-- idempotency key (unique per tenant) with the hash of what it says.
CREATE TABLE notifications_messages (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  idempotency_key TEXT NULL,
  payload_hash TEXT NOT NULL,
  category TEXT NOT NULL,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  link TEXT NOT NULL,
  data TEXT NULL,
  priority TEXT NOT NULL,
  recipient TEXT NOT NULL,
  recipients INTEGER NOT NULL,
  direct_users TEXT NULL,
  fallback INTEGER NOT NULL DEFAULT 0,
  fallback_after_s INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  expires_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_notifications_messages_key ON notifications_messages (tenant_id, idempotency_key);
CREATE INDEX ix_notifications_messages_expires ON notifications_messages (expires_at);

-- One row per recipient: the user's inbox. Ids are UUIDv7, so they sort
-- by time and serve as the list's cursor.
CREATE TABLE notifications_inbox (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  notification_id TEXT NOT NULL,
  category TEXT NOT NULL,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  link TEXT NOT NULL,
  data TEXT NULL,
  priority TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  read_at DATETIME NULL,
  archived_at DATETIME NULL,
  snoozed_until DATETIME NULL,
  expires_at DATETIME NOT NULL
);
CREATE INDEX ix_notifications_inbox_user ON notifications_inbox (tenant_id, user_id, id);
CREATE UNIQUE INDEX ux_notifications_inbox_recipient ON notifications_inbox (notification_id, user_id);
CREATE INDEX ix_notifications_inbox_expires ON notifications_inbox (expires_at);

-- Each user's preferences: a time zone and quiet hours for e-mail and SMS,
-- a phone number for SMS, and the channels of each category (JSON).
CREATE TABLE notifications_preferences (
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  time_zone TEXT NOT NULL,
  phone TEXT NULL,
  quiet_start TEXT NULL,
  quiet_end TEXT NULL,
  channels TEXT NOT NULL,
  updated_at DATETIME NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);

-- What went out by e-mail or SMS for an unread notification: at most one
-- message per notification, user and channel.
CREATE TABLE notifications_fallbacks (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  notification_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  message_id TEXT NOT NULL,
  created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX ux_notifications_fallbacks ON notifications_fallbacks (notification_id, user_id, channel);
