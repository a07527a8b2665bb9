-- The triage pipeline's position in each ticket's event log, and the steps that failed.

-- name: ensure_cursor
-- Creates a ticket's cursor at the start of its log.
INSERT INTO triage_cursors (ticket_id, last_event_id) VALUES (%(ticket_id)s, 0) ON CONFLICT DO NOTHING

-- name: lock_cursor
-- Locks a ticket's cursor while one event is processed.
SELECT last_event_id FROM triage_cursors WHERE ticket_id = %(ticket_id)s FOR UPDATE

-- name: next_event
-- The ticket's first event after the cursor.
SELECT * FROM ticket_events WHERE ticket_id = %(ticket_id)s AND id > %(after_id)s ORDER BY id LIMIT 1

-- name: advance_cursor
-- Moves the cursor past a processed event.
UPDATE triage_cursors SET last_event_id = %(event_id)s WHERE ticket_id = %(ticket_id)s

-- name: insert_failure
-- Records a step that failed on an event (the dead letter); once per event and step.
INSERT INTO triage_failures (ticket_id, event_id, step, error)
VALUES (%(ticket_id)s, %(event_id)s, %(step)s, %(error)s)
ON CONFLICT (event_id, step) DO UPDATE SET error = EXCLUDED.error
RETURNING id

-- name: list_failures
-- Failed steps, newest first, optionally of one ticket.
SELECT * FROM triage_failures
WHERE (%(ticket_id)s::bigint IS NULL OR ticket_id = %(ticket_id)s)
ORDER BY id DESC LIMIT %(limit)s
