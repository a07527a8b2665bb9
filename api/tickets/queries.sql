-- name: create_ticket
-- Inserts a ticket numbered from its id (INC-000042 / REQ-000043) and its 'created' event, in one statement.
WITH new AS (SELECT nextval(pg_get_serial_sequence('tickets', 'id')) AS id),
ins AS (
    INSERT INTO tickets (id, number, type, title, description, category_id, urgency, impact, priority,
                         status, requester_id, team_id, source_type, source_reference, integration_metadata)
    SELECT new.id,
           CASE WHEN %(type)s = 'request' THEN 'REQ-' ELSE 'INC-' END || lpad(new.id::text, greatest(6, length(new.id::text)), '0'),
           %(type)s, %(title)s, %(description)s, %(category_id)s, %(urgency)s, %(impact)s, %(priority)s,
           'new', %(requester_id)s, %(team_id)s, %(source_type)s, %(source_reference)s, %(integration_metadata)s
    FROM new
    RETURNING *
),
ev AS (
    INSERT INTO ticket_events (ticket_id, actor_id, kind, after, meta)
    SELECT ins.id, %(actor_id)s, 'created', to_jsonb(ins) - 'search', %(meta)s FROM ins
)
SELECT ins.*, c.slug AS category, tm.slug AS team
FROM ins LEFT JOIN categories c ON c.id = ins.category_id LEFT JOIN teams tm ON tm.id = ins.team_id

-- name: get_ticket
-- A ticket by id or number.
SELECT * FROM tickets_v WHERE id = %(id)s OR number = %(number)s

-- name: lock_ticket
-- Locks a ticket row for a change; returns the raw row.
SELECT * FROM tickets WHERE id = %(id)s OR number = %(number)s FOR UPDATE

-- name: list_tickets
-- Tickets the caller may see, newest first, filtered, after a cursor.
SELECT * FROM tickets_v t
WHERE (%(see_all)s
       OR t.requester_id = %(uid)s
       OR (%(is_agent)s AND (t.team_id = ANY(%(team_ids)s) OR t.assignee_id = %(uid)s OR t.assignee_id IS NULL)))
  AND (%(status)s::text[] IS NULL OR t.status = ANY(%(status)s))
  AND (%(team_id)s::bigint IS NULL OR t.team_id = %(team_id)s)
  AND (%(assignee_id)s::bigint IS NULL OR t.assignee_id = %(assignee_id)s)
  AND (NOT %(unassigned)s OR t.assignee_id IS NULL)
  AND (%(requester_id)s::bigint IS NULL OR t.requester_id = %(requester_id)s)
  AND (%(priority)s::smallint IS NULL OR t.priority = %(priority)s)
  AND (%(q)s::text IS NULL OR t.search @@ websearch_to_tsquery('english', %(q)s) OR t.number = upper(%(q)s))
  AND (%(in_teams)s::bigint[] IS NULL OR t.team_id = ANY(%(in_teams)s))
  AND (%(category)s::text IS NULL OR t.category = %(category)s)
  AND (%(due_before)s::timestamptz IS NULL OR t.resolve_due_at < %(due_before)s
       OR (t.respond_due_at < %(due_before)s AND t.status IN ('new', 'assigned')))
  AND (%(before_id)s::bigint IS NULL OR t.id < %(before_id)s)
ORDER BY t.id DESC
LIMIT %(limit)s

-- name: count_queues
-- How many open tickets the caller may see are in each queue of the console (api/web/console).
SELECT count(*) FILTER (WHERE t.assignee_id = %(uid)s AND t.status <> 'pending') AS mine,
       count(*) FILTER (WHERE t.team_id = ANY(%(team_ids)s)) AS teams,
       count(*) FILTER (WHERE t.assignee_id IS NULL) AS unassigned,
       count(*) FILTER (WHERE t.resolve_due_at < %(due_before)s
                        OR (t.respond_due_at < %(due_before)s AND t.status IN ('new', 'assigned'))) AS breaching,
       count(*) FILTER (WHERE t.status = 'pending') AS pending
FROM tickets_v t
WHERE t.status IN ('new', 'assigned', 'in_progress', 'pending')
  AND (%(see_all)s OR t.team_id = ANY(%(team_ids)s) OR t.assignee_id = %(uid)s OR t.assignee_id IS NULL)

-- name: update_ticket
-- Writes the changed fields of a locked ticket and bumps its version.
UPDATE tickets SET
    title = %(title)s, description = %(description)s, category_id = %(category_id)s,
    urgency = %(urgency)s, impact = %(impact)s, priority = %(priority)s, status = %(status)s,
    team_id = %(team_id)s, assignee_id = %(assignee_id)s, integration_metadata = %(integration_metadata)s,
    resolved_at = %(resolved_at)s, closed_at = %(closed_at)s, resolution = %(resolution)s,
    version = version + 1, updated_at = now()
WHERE id = %(id)s

-- name: insert_event
-- Appends one audit event.
INSERT INTO ticket_events (ticket_id, actor_id, kind, before, after, meta)
VALUES (%(ticket_id)s, %(actor_id)s, %(kind)s, %(before)s, %(after)s, %(meta)s)

-- name: list_events
-- A ticket's audit trail, oldest first, after a cursor.
SELECT * FROM ticket_events
WHERE ticket_id = %(ticket_id)s AND (%(after_id)s::bigint IS NULL OR id > %(after_id)s)
ORDER BY id
LIMIT %(limit)s

-- name: insert_comment
-- Adds a comment.
INSERT INTO ticket_comments (ticket_id, author_id, body, internal)
VALUES (%(ticket_id)s, %(author_id)s, %(body)s, %(internal)s)
RETURNING *

-- name: list_comments
-- A ticket's comments, oldest first, after a cursor; internal ones only when asked.
SELECT * FROM ticket_comments
WHERE ticket_id = %(ticket_id)s AND (%(with_internal)s OR NOT internal)
  AND (%(after_id)s::bigint IS NULL OR id > %(after_id)s)
ORDER BY id
LIMIT %(limit)s

-- name: category_id
-- The id of a category slug.
SELECT id FROM categories WHERE slug = %(slug)s

-- name: team_id
-- The id of a team slug.
SELECT id FROM teams WHERE slug = %(slug)s

-- name: assignable_agent
-- An active agent or admin with the teams they belong to.
SELECT u.id, coalesce(array_agg(tm.team_id ORDER BY tm.team_id) FILTER (WHERE tm.team_id IS NOT NULL), '{}') AS team_ids
FROM users u LEFT JOIN team_members tm ON tm.user_id = u.id
WHERE u.id = %(id)s AND u.active AND u.role IN ('agent', 'admin')
GROUP BY u.id

-- name: list_categories
-- Every category with its default team's slug.
SELECT c.id, c.slug, c.name, c.description, t.slug AS default_team
FROM categories c LEFT JOIN teams t ON t.id = c.default_team_id ORDER BY c.slug

-- name: create_category
-- Inserts a category.
INSERT INTO categories (slug, name, description, default_team_id)
VALUES (%(slug)s, %(name)s, %(description)s, (SELECT id FROM teams WHERE slug = %(default_team)s))
RETURNING id, slug, name, description, %(default_team)s::text AS default_team

-- name: lock_sla_due
-- Locks a ticket row to change its SLA due times.
SELECT respond_due_at, resolve_due_at FROM tickets WHERE id = %(id)s FOR UPDATE

-- name: set_sla_due
-- Shows the SLA clock's due times on the ticket.
UPDATE tickets SET respond_due_at = %(respond_due_at)s, resolve_due_at = %(resolve_due_at)s WHERE id = %(id)s
