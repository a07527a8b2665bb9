-- Deflection (api/analytics/queries.sql) at scale (bench/console.py, 100,000 tickets: 18 s -> 0.4 s).
-- A bot message's "That solved it" button names its answer as 'deskmate:kb_helpful:<id>': the query joins the
-- button's payload to that text, which no index could answer, so every conversation scanned all helpful answers.
CREATE INDEX kb_answers_helpful_payload_idx ON kb_answers (('deskmate:kb_helpful:' || id::text)) WHERE helpful;
-- "a ticket was opened from it": the conversations whose messages name a ticket, without visiting the messages.
CREATE INDEX chat_messages_ticket_conversation_idx ON chat_messages (conversation_id) WHERE ticket_id IS NOT NULL;
-- The planner uses the expression index only with statistics of the expression, which ANALYZE gathers
-- (without them it estimated half the answers to match a button, and kept scanning them all at 1,000,000 tickets).
ANALYZE kb_answers;
