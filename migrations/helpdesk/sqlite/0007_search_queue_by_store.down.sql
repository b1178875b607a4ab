CREATE TRIGGER helpdesk_search_ticket_insert AFTER INSERT ON helpdesk_tickets BEGIN
  INSERT INTO helpdesk_search_pending (kind, source_id) VALUES (0, NEW.id); END;
CREATE TRIGGER helpdesk_search_message_insert AFTER INSERT ON helpdesk_messages BEGIN
  INSERT INTO helpdesk_search_pending (kind, source_id) VALUES (1, NEW.id); END;
