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
