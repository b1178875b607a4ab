DROP TABLE probe_message_effects;
DROP TABLE probe_message_calls;
