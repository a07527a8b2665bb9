-- The triage worker's position in each ticket's event log.

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

-- name: due_jobs
-- The jobs in these queues that are waiting and due now.
SELECT id FROM procrastinate_jobs
WHERE status = 'todo' AND queue_name = ANY(%(queues)s) AND (scheduled_at IS NULL OR scheduled_at <= now())
