-- name: create_conversation
-- Starts a conversation.
INSERT INTO chat_conversations (id, employee_id, channel, channel_user, client)
VALUES (%(id)s, %(employee_id)s, %(channel)s, %(channel_user)s, %(client)s)
RETURNING *

-- name: conversation_for
-- The conversation a channel names (channel, channel_key), started now if it is new; the reply address is kept
-- up to date (a Teams serviceUrl can move).
INSERT INTO chat_conversations (id, employee_id, channel, channel_user, channel_key, channel_ref)
VALUES (%(id)s, %(employee_id)s, %(channel)s, %(channel_user)s, %(channel_key)s, %(channel_ref)s)
ON CONFLICT (channel, channel_key) WHERE channel_key IS NOT NULL
DO UPDATE SET channel_ref = EXCLUDED.channel_ref
RETURNING id

-- name: first_delivery
-- Records an inbound event id; a row back means it is the first delivery.
INSERT INTO channel_inbound (channel, event_id) VALUES (%(channel)s, %(event_id)s)
ON CONFLICT DO NOTHING
RETURNING event_id

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

-- name: list_messages_after
-- A conversation's messages newer than %(after)s, oldest first (at most %(limit)s): what a widget that is open
-- has not shown yet (a ticket update, api/channels/origin.py).
SELECT m.id, m.direction, m.text, m.payload, m.intent, m.confidence, m.created_at, t.number AS ticket_number
FROM chat_messages m LEFT JOIN tickets t ON t.id = m.ticket_id
WHERE m.conversation_id = %(id)s AND m.id > %(after)s ORDER BY m.id LIMIT %(limit)s

-- name: conversation_owner
-- The e-mail of the active employee a conversation belongs to (no row: no such conversation).
SELECT u.email FROM chat_conversations c
LEFT JOIN users u ON u.id = c.employee_id AND u.active
WHERE c.id = %(id)s

-- name: last_user_message
-- The id of the conversation's newest user message (the current turn).
SELECT max(id) AS id FROM chat_messages WHERE conversation_id = %(id)s AND direction = 'user'

-- name: claim_ticket
-- Claims a ticket for one turn (or client key) of a conversation; no row when it was claimed before.
INSERT INTO chat_tickets (conversation_id, key, user_message_id)
VALUES (%(conversation_id)s, %(key)s, %(user_message_id)s)
ON CONFLICT DO NOTHING
RETURNING key

-- name: claimed_ticket
-- The ticket an earlier claim opened.
SELECT ticket_id FROM chat_tickets WHERE conversation_id = %(conversation_id)s AND key = %(key)s

-- name: record_ticket
-- Records the ticket a claim opened.
UPDATE chat_tickets SET ticket_id = %(ticket_id)s WHERE conversation_id = %(conversation_id)s AND key = %(key)s

-- name: turn_ticket
-- The ticket opened during a turn (by the action server), to link it to the turn's reply.
SELECT ticket_id FROM chat_tickets
WHERE conversation_id = %(conversation_id)s AND user_message_id = %(user_message_id)s AND ticket_id IS NOT NULL
ORDER BY created_at DESC LIMIT 1
