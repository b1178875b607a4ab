DROP TABLE notifications_fallbacks;
DROP TABLE notifications_preferences;
DROP TABLE notifications_inbox;
DROP TABLE notifications_messages;
