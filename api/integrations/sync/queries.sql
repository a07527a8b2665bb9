-- The sync engine: connectors, links, the outbox, comment links, conflicts (migrations/0030_sync.sql).

-- name: sync_user
-- The system actor of inbound changes.
SELECT id, email, name FROM users WHERE email = 'sync@deskmate.invalid'

-- name: create_connector
INSERT INTO sync_connectors (name, kind, base_url, config, user_token_encrypted, app_token_encrypted,
                             password_encrypted, client_secret_encrypted, enabled)
VALUES (%(name)s, %(kind)s, %(base_url)s, %(config)s, %(user_token_encrypted)s, %(app_token_encrypted)s,
        %(password_encrypted)s, %(client_secret_encrypted)s, %(enabled)s)
RETURNING *

-- name: get_connector
-- One connector by name or id.
SELECT * FROM sync_connectors WHERE name = %(name)s OR id = %(id)s

-- name: list_connectors
SELECT * FROM sync_connectors WHERE (NOT %(enabled_only)s OR enabled) ORDER BY name

-- name: update_connector
UPDATE sync_connectors SET base_url = %(base_url)s, config = %(config)s,
    user_token_encrypted = %(user_token_encrypted)s, app_token_encrypted = %(app_token_encrypted)s,
    password_encrypted = %(password_encrypted)s, client_secret_encrypted = %(client_secret_encrypted)s,
    enabled = %(enabled)s, updated_at = now()
WHERE id = %(id)s
RETURNING *

-- name: delete_connector
DELETE FROM sync_connectors WHERE name = %(name)s RETURNING id

-- name: polled
-- After a poll: the new cursor (unchanged when null) and the error, if any.
UPDATE sync_connectors SET inbound_cursor = coalesce(%(cursor)s, inbound_cursor), last_polled_at = now(),
    last_error = %(error)s
WHERE id = %(id)s

-- name: set_last_error
UPDATE sync_connectors SET last_error = %(error)s WHERE id = %(id)s

-- name: insert_outbox
-- Records an event to push; nothing when it is recorded already.
INSERT INTO sync_outbox (connector_id, ticket_id, event_id) VALUES (%(connector_id)s, %(ticket_id)s, %(event_id)s)
ON CONFLICT (connector_id, event_id) DO NOTHING
RETURNING id

-- name: pending_items
-- A ticket's events waiting to be pushed to a connector, in order.
SELECT id FROM sync_outbox
WHERE connector_id = %(connector_id)s AND ticket_id = %(ticket_id)s AND status = 'pending' ORDER BY id

-- name: lock_item
SELECT o.*, e.kind, e.after, e.meta FROM sync_outbox o JOIN ticket_events e ON e.id = o.event_id
WHERE o.id = %(id)s FOR UPDATE OF o

-- name: finish_item
UPDATE sync_outbox SET status = %(status)s, attempts = attempts + 1, last_error = %(error)s, updated_at = now()
WHERE id = %(id)s

-- name: note_attempt
-- A transient failure: the item stays pending.
UPDATE sync_outbox SET attempts = attempts + 1, last_error = %(error)s, updated_at = now() WHERE id = %(id)s

-- name: retry_item
UPDATE sync_outbox SET status = 'pending', last_error = NULL, updated_at = now()
WHERE id = %(id)s AND status = 'failed'
RETURNING connector_id, ticket_id

-- name: stranded
-- Tickets with items waiting and no push job queued or running for them (the job gave up or was lost).
SELECT DISTINCT o.connector_id, o.ticket_id FROM sync_outbox o
WHERE o.status = 'pending' AND o.connector_id = %(connector_id)s
  AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.status IN ('todo', 'doing')
                  AND j.lock = 'sync:' || o.connector_id || ':' || o.ticket_id)

-- name: lock_pair
-- Serialises the work of one connector on one ticket (pushes and the poll), to the end of the transaction.
SELECT pg_advisory_xact_lock(hashtextextended('sync:' || %(connector_id)s::bigint || ':' || %(ticket_id)s::bigint, 0))

-- name: get_link
SELECT * FROM sync_links WHERE connector_id = %(connector_id)s AND ticket_id = %(ticket_id)s

-- name: link_by_external
SELECT * FROM sync_links WHERE connector_id = %(connector_id)s AND external_id = %(external_id)s

-- name: insert_link
INSERT INTO sync_links (connector_id, ticket_id, external_id, remote_date_mod, remote_values)
VALUES (%(connector_id)s, %(ticket_id)s, %(external_id)s, %(remote_date_mod)s, %(remote_values)s)
RETURNING *

-- name: update_link
-- What the link last saw there (the date_mod unchanged when null).
UPDATE sync_links SET remote_values = remote_values || %(remote_values)s,
    remote_date_mod = coalesce(%(remote_date_mod)s, remote_date_mod)
WHERE id = %(id)s

-- name: list_links
SELECT l.*, t.number FROM sync_links l JOIN tickets t ON t.id = l.ticket_id
WHERE l.connector_id = %(connector_id)s ORDER BY l.id

-- name: comment_link
SELECT * FROM sync_comment_links
WHERE connector_id = %(connector_id)s AND (comment_id = %(comment_id)s OR external_id = %(external_id)s)

-- name: insert_comment_link
INSERT INTO sync_comment_links (connector_id, comment_id, external_id)
VALUES (%(connector_id)s, %(comment_id)s, %(external_id)s)

-- name: get_comment
SELECT * FROM ticket_comments WHERE id = %(id)s

-- name: insert_conflict
INSERT INTO sync_conflicts (connector_id, ticket_id, field, local_value, remote_value)
VALUES (%(connector_id)s, %(ticket_id)s, %(field)s, %(local_value)s, %(remote_value)s)
RETURNING id

-- name: list_conflicts
SELECT c.id, s.name AS connector, c.ticket_id, t.number AS ticket_number, c.field, c.local_value, c.remote_value,
       c.created_at, c.resolved, c.resolution, u.email AS resolved_by, c.resolved_at
FROM sync_conflicts c JOIN sync_connectors s ON s.id = c.connector_id JOIN tickets t ON t.id = c.ticket_id
LEFT JOIN users u ON u.id = c.resolved_by
WHERE (%(ticket)s::text IS NULL OR t.number = upper(%(ticket)s) OR t.id::text = %(ticket)s)
  AND (%(open_only)s IS NOT TRUE OR NOT c.resolved)
  AND (%(id)s::bigint IS NULL OR c.id = %(id)s)
ORDER BY c.id DESC LIMIT %(limit)s

-- name: lock_conflict
SELECT * FROM sync_conflicts WHERE id = %(id)s FOR UPDATE

-- name: resolve_conflict
UPDATE sync_conflicts SET resolved = true, resolution = %(resolution)s, resolved_by = %(user_id)s, resolved_at = now()
WHERE id = %(id)s

-- name: outbox_items
-- Outbox items of a connector by status, newest first.
SELECT o.id, o.connector_id, o.ticket_id, t.number AS ticket_number, o.event_id, e.kind AS event_kind, o.status,
       o.attempts, o.last_error, o.created_at, o.updated_at
FROM sync_outbox o JOIN tickets t ON t.id = o.ticket_id JOIN ticket_events e ON e.id = o.event_id
WHERE o.connector_id = %(connector_id)s AND o.status = %(status)s
ORDER BY o.id DESC LIMIT %(limit)s

-- name: queue_stats
SELECT count(*) FILTER (WHERE status = 'pending') AS depth,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')) AS lag_s,
       (SELECT count(*) FROM sync_links WHERE connector_id = %(connector_id)s) AS linked
FROM sync_outbox WHERE connector_id = %(connector_id)s

-- name: admins
-- Active admins (told in-app when an item fails for good).
SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id

-- name: due_polls
-- Enabled connectors whose poll interval has passed.
SELECT id FROM sync_connectors
WHERE enabled AND (last_polled_at IS NULL
                   OR last_polled_at + make_interval(secs => coalesce((config->>'poll_interval_s')::int, 60) - 5) <= now())

-- name: recent_failure
-- Whether another item of the connector failed within the last hour (admins were told then).
SELECT 1 FROM sync_outbox WHERE connector_id = %(connector_id)s AND status = 'failed' AND id <> %(id)s
  AND updated_at > now() - interval '1 hour'
LIMIT 1
