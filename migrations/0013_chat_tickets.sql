-- Tickets opened from a conversation, one per turn (or client Idempotency-Key): a retry, or "Open a ticket"
-- after the bot already opened one in that turn, returns the same ticket.
CREATE TABLE chat_tickets (
    conversation_id uuid NOT NULL REFERENCES chat_conversations ON DELETE CASCADE,
    key text NOT NULL,
    user_message_id bigint,
    ticket_id bigint REFERENCES tickets,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, key)
);
CREATE INDEX chat_tickets_turn_idx ON chat_tickets (conversation_id, user_message_id);
