-- A notification as it was sent: what it says, to whom, and its
-- idempotency key (unique per tenant) with the hash of what it says.
CREATE TABLE notifications_messages (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  idempotency_key VARCHAR(200) NULL,
  payload_hash VARCHAR(64) NOT NULL,
  category VARCHAR(64) NOT NULL,
  title VARCHAR(200) NOT NULL,
  body TEXT NOT NULL,
  link VARCHAR(2000) NOT NULL,
  data MEDIUMTEXT NULL,
  priority VARCHAR(16) NOT NULL,
  recipient TEXT NOT NULL,
  recipients INT NOT NULL,
  direct_users MEDIUMTEXT NULL,
  fallback TINYINT(1) NOT NULL DEFAULT 0,
  fallback_after_s INT NOT NULL DEFAULT 0,
  created_by VARCHAR(100) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_notifications_messages_key (tenant_id, idempotency_key),
  KEY ix_notifications_messages_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per recipient: the user's inbox. Ids are UUIDv7, so they sort
-- by time and serve as the list's cursor.
CREATE TABLE notifications_inbox (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36) NOT NULL,
  notification_id VARCHAR(36) NOT NULL,
  category VARCHAR(64) NOT NULL,
  title VARCHAR(200) NOT NULL,
  body TEXT NOT NULL,
  link VARCHAR(2000) NOT NULL,
  data MEDIUMTEXT NULL,
  priority VARCHAR(16) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  read_at DATETIME(6) NULL,
  archived_at DATETIME(6) NULL,
  snoozed_until DATETIME(6) NULL,
  expires_at DATETIME(6) NOT NULL,
  KEY ix_notifications_inbox_user (tenant_id, user_id, id),
  UNIQUE KEY ux_notifications_inbox_recipient (notification_id, user_id),
  KEY ix_notifications_inbox_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Each user's preferences: a time zone and quiet hours for e-mail and SMS,
-- a phone number for SMS, and the channels of each category (JSON).
CREATE TABLE notifications_preferences (
  tenant_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36) NOT NULL,
  time_zone VARCHAR(64) NOT NULL,
  phone VARCHAR(20) NULL,
  quiet_start VARCHAR(5) NULL,
  quiet_end VARCHAR(5) NULL,
  channels TEXT NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- What went out by e-mail or SMS for an unread notification: at most one
-- message per notification, user and channel.
CREATE TABLE notifications_fallbacks (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  notification_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36) NOT NULL,
  channel VARCHAR(16) NOT NULL,
  message_id VARCHAR(100) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY ux_notifications_fallbacks (notification_id, user_id, channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
