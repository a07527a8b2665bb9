-- name: create_ticket
-- Creates a ticket in one statement, one round trip: resolves the category and team slugs, numbers the ticket
-- from its id (INC-000042 / REQ-000043), writes its 'created' event, claims the Idempotency-Key with the ticket it
-- made (api/idempotency.py) and queues the ticket's triage job (procrastinate_defer_jobs_v1, the function
-- procrastinate's own defer calls; api/triage/queue.py). Creates nothing when a slug is unknown or the key was
-- used before: the row's category_known, team_known and key_new say why. A request racing another with the same
-- key waits on the key's unique index and fails with a UniqueViolation once that one commits.
WITH cat AS (SELECT id FROM categories WHERE slug = %(category)s::text),
tm AS (SELECT id FROM teams WHERE slug = %(team)s::text),
chk AS (
    SELECT (%(category)s::text IS NULL OR EXISTS (SELECT FROM cat)) AS category_known,
           (%(team)s::text IS NULL OR EXISTS (SELECT FROM tm)) AS team_known,
           (%(key)s::text IS NULL OR NOT EXISTS (
               SELECT FROM idempotency_keys k
               WHERE k.user_id = %(actor_id)s AND k.scope = %(scope)s AND k.key = %(key)s::text)) AS key_new
),
new AS (
    SELECT nextval(pg_get_serial_sequence('tickets', 'id')) AS id
    FROM chk WHERE category_known AND team_known AND key_new
),
ins AS (
    INSERT INTO tickets (id, number, type, title, description, category_id, urgency, impact, priority,
                         status, requester_id, team_id, source_type, source_reference, integration_metadata)
    SELECT new.id,
           CASE WHEN %(type)s = 'request' THEN 'REQ-' ELSE 'INC-' END || lpad(new.id::text, greatest(6, length(new.id::text)), '0'),
           %(type)s, %(title)s, %(description)s, (SELECT id FROM cat), %(urgency)s, %(impact)s, %(priority)s,
           'new', %(requester_id)s, (SELECT id FROM tm), %(source_type)s, %(source_reference)s, %(integration_metadata)s
    FROM new
    RETURNING *
),
ev AS (
    INSERT INTO ticket_events (ticket_id, actor_id, kind, after, meta)
    SELECT ins.id, %(actor_id)s, 'created', to_jsonb(ins) - 'search', %(meta)s FROM ins
),
claim AS (
    INSERT INTO idempotency_keys (user_id, scope, key, request_hash, resource_id)
    SELECT %(actor_id)s, %(scope)s, %(key)s::text, %(request_hash)s, ins.id FROM ins WHERE %(key)s::text IS NOT NULL
),
job AS (
    SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(
        %(triage_queue)s::varchar, %(triage_task)s::varchar, 0, %(triage_lock)s::text || ins.id, NULL::text,
        jsonb_build_object('ticket_id', ins.id), NULL::timestamptz)::procrastinate_job_to_defer_v1]) AS ids
    FROM ins WHERE %(triage)s::boolean
)
SELECT chk.category_known, chk.team_known, chk.key_new, (SELECT ids[1] FROM job) AS triage_job_id,
       ins.*, c.slug AS category, t.slug AS team
FROM chk
LEFT JOIN ins ON true
LEFT JOIN categories c ON c.id = ins.category_id
LEFT JOIN teams t ON t.id = ins.team_id

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
