-- Conversations through the chat gateway and every message with the detected intent.
CREATE TABLE chat_conversations (
    id uuid PRIMARY KEY,
    employee_id bigint REFERENCES users,
    channel text NOT NULL CHECK (channel IN ('web', 'slack', 'teams')),
    channel_user text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_message_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_conversations_employee_idx ON chat_conversations (employee_id, created_at DESC);

CREATE TABLE chat_messages (
    id bigserial PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES chat_conversations ON DELETE CASCADE,
    direction text NOT NULL CHECK (direction IN ('user', 'bot')),
    text text NOT NULL DEFAULT '',
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    intent text,
    confidence real,
    ticket_id bigint REFERENCES tickets,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_conversation_idx ON chat_messages (conversation_id, id);
