-- name: create_conversation
-- Starts a conversation.
INSERT INTO chat_conversations (id, employee_id, channel, channel_user)
VALUES (%(id)s, %(employee_id)s, %(channel)s, %(channel_user)s)
RETURNING *

-- name: get_conversation
-- A conversation with its employee's e-mail.
SELECT c.*, u.email AS employee_email FROM chat_conversations c
LEFT JOIN users u ON u.id = c.employee_id
WHERE c.id = %(id)s

-- name: insert_message
-- Stores one message and touches the conversation.
WITH touched AS (UPDATE chat_conversations SET last_message_at = now() WHERE id = %(conversation_id)s)
INSERT INTO chat_messages (conversation_id, direction, text, payload, intent, confidence, ticket_id)
VALUES (%(conversation_id)s, %(direction)s, %(text)s, %(payload)s, %(intent)s, %(confidence)s, %(ticket_id)s)
RETURNING id, direction, text, payload, intent, confidence, created_at,
          (SELECT number FROM tickets WHERE id = %(ticket_id)s) AS ticket_number

-- name: set_intent
-- Records the intent detected for a user message.
UPDATE chat_messages SET intent = %(intent)s, confidence = %(confidence)s WHERE id = %(id)s

-- name: list_messages
-- A conversation's messages, oldest first (the last %(limit)s).
SELECT * FROM (
    SELECT m.id, m.direction, m.text, m.payload, m.intent, m.confidence, m.created_at, t.number AS ticket_number
    FROM chat_messages m LEFT JOIN tickets t ON t.id = m.ticket_id
    WHERE m.conversation_id = %(id)s ORDER BY m.id DESC LIMIT %(limit)s
) recent ORDER BY id
