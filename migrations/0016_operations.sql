-- Operations: rate limits (api/ratelimit.py) and the indexes retention deletes by (api/retention).

-- Sliding-window rate limits: the times of the hits inside the window, per key. One INSERT … ON CONFLICT
-- DO UPDATE per check takes the row lock, so concurrent checks of one key are serialised and never pass
-- more hits than the limit. UNLOGGED: a crash forgets the windows, which only resets the limits.
CREATE UNLOGGED TABLE rate_limits (
    key text PRIMARY KEY,
    hits timestamptz[] NOT NULL,
    allowed boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX chat_conversations_last_message_idx ON chat_conversations (last_message_at);
CREATE INDEX chat_messages_ticket_idx ON chat_messages (ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX notifications_created_idx ON notifications (created_at);
CREATE INDEX alert_firings_created_idx ON alert_firings (created_at);

-- Conversations idle for `days` days from which no open ticket came (retention, api/retention).
CREATE FUNCTION retention_idle_conversations(days integer) RETURNS TABLE (id uuid)
LANGUAGE sql STABLE AS $$
    SELECT c.id FROM chat_conversations c
    WHERE c.last_message_at < now() - make_interval(days => days)
      AND NOT EXISTS (
          SELECT 1 FROM tickets t
          WHERE t.status IN ('new', 'assigned', 'in_progress', 'pending')
            AND ((t.source_type = 'CHATBOT' AND t.source_reference = c.id::text)
                 OR t.id IN (SELECT m.ticket_id FROM chat_messages m WHERE m.conversation_id = c.id)))
$$;
