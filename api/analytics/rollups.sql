-- Analytics rollups (api/analytics/rollups.py; migration 0045; docs/analytics.md "Rollups").
-- A ticket is "rolled up" when ticket_durations has its row; the row and backlog_daily hold what its events up to
-- the row's rolled_upto give, with the team and category of the row. Tickets created or with events after the
-- watermarks are "touched": the metrics compute them live.

-- name: state
-- How far the rollups go (refreshed_at NULL: never built).
SELECT ticket_watermark, event_watermark, refreshed_at FROM analytics_rollup_state

-- name: lock
-- One refresh at a time (a session lock: a refresh is several transactions).
SELECT pg_advisory_lock(%(key)s)

-- name: unlock
SELECT pg_advisory_unlock(%(key)s)

-- name: horizon
-- The newest ticket and event, and a transaction id newer than every transaction writing now (one of them may still
-- add an older ticket or event id); in autocommit, this statement's own id (it ends with the statement).
SELECT (SELECT coalesce(max(id), 0) FROM tickets) AS ticket_upto,
       (SELECT coalesce(max(id), 0) FROM ticket_events) AS event_upto,
       pg_current_xact_id()::text AS writers_below

-- name: still_writing
-- Whether one of those transactions is still running (the oldest one running is older).
SELECT pg_snapshot_xmin(pg_current_snapshot()) < %(writers_below)s::xid8 AS running

-- name: touched
-- Tickets created after the ticket watermark or with an event after the event watermark (up to the bounds when
-- given: NULL is no bound), in id order.
SELECT id FROM tickets
WHERE id > %(ticket_watermark)s AND (%(ticket_upto)s::bigint IS NULL OR id <= %(ticket_upto)s)
UNION
SELECT ticket_id FROM ticket_events
WHERE id > %(event_watermark)s AND (%(event_upto)s::bigint IS NULL OR id <= %(event_upto)s)
ORDER BY 1

-- name: backlog_corrections
-- For the tickets %(tickets)s: the backlog changes per UTC day, team and category as they are now (events up to
-- %(upto)s; NULL: all) minus what the rollup holds for them (events up to the row's rolled_upto, the row's team
-- and category), in the team %(team)s and category %(category)s when given. Zero for a ticket that did not change.
WITH now AS (
    SELECT t.id, t.team_id, t.category_id, t.created_at, NULL::bigint AS upto, 1 AS sign
    FROM tickets t WHERE t.id = ANY(%(tickets)s::bigint[])
    UNION ALL
    SELECT d.ticket_id, d.team_id, d.category_id, d.created_at, d.rolled_upto, -1
    FROM ticket_durations d WHERE d.ticket_id = ANY(%(tickets)s::bigint[])
), deltas AS (
    SELECT n.team_id, n.category_id, n.created_at AS at, n.sign AS delta FROM now n
    UNION ALL
    SELECT n.team_id, n.category_id, e.created_at,
           n.sign * ((e.after->>'status' IN ('new', 'assigned', 'in_progress', 'pending'))::int
                     - (e.before->>'status' IN ('new', 'assigned', 'in_progress', 'pending'))::int)
    FROM now n JOIN ticket_events e ON e.ticket_id = n.id
    WHERE e.kind = 'status_changed' AND e.id <= coalesce(n.upto, %(upto)s::bigint, e.id)
)
SELECT (d.at AT TIME ZONE 'UTC')::date AS day, d.team_id, d.category_id, sum(d.delta)::bigint AS delta
FROM deltas d
LEFT JOIN categories c ON c.id = d.category_id
LEFT JOIN teams tm ON tm.id = d.team_id
WHERE (%(team)s::text IS NULL OR tm.slug = %(team)s)
  AND (%(category)s::text IS NULL OR c.slug = %(category)s)
GROUP BY 1, 2, 3
HAVING sum(d.delta) <> 0

-- name: drifted
-- Rolled-up tickets whose team, category or times differ from their row without an event saying so (a team or
-- category deleted; an edit in SQL).
SELECT d.ticket_id AS id FROM ticket_durations d JOIN tickets t ON t.id = d.ticket_id
WHERE (d.team_id, d.category_id, d.created_at, d.resolved_at)
      IS DISTINCT FROM (t.team_id, t.category_id, t.created_at, t.resolved_at)

-- name: teams
SELECT id FROM teams ORDER BY id

-- name: calendar_hashes
-- The calendars the rolled-up seconds were counted in, per team.
SELECT DISTINCT team_id, calendar_hash FROM ticket_durations

-- name: counted_in
-- The rolled-up tickets of a team (NULL: none) whose seconds were counted in the calendar %(calendar_hash)s.
SELECT ticket_id AS id FROM ticket_durations
WHERE team_id IS NOT DISTINCT FROM %(team_id)s::bigint AND calendar_hash = %(calendar_hash)s

-- name: add_backlog
-- Adds one change to the backlog's day, team and category.
INSERT INTO backlog_daily (day, team_id, category_id, open_delta)
VALUES (%(day)s, %(team_id)s, %(category_id)s, %(delta)s)
ON CONFLICT (day, team_id, category_id) DO UPDATE SET open_delta = backlog_daily.open_delta + EXCLUDED.open_delta

-- name: backlog_buckets
-- The rolled-up backlog changes before %(end)s per bucket (those before the first bucket count in it), in the
-- team and category when given.
SELECT greatest(date_trunc(%(granularity)s, b.day), date_trunc(%(granularity)s, %(start)s::timestamptz AT TIME ZONE 'UTC'))::date
       AS bucket, sum(b.open_delta)::bigint AS delta
FROM backlog_daily b
LEFT JOIN categories c ON c.id = b.category_id
LEFT JOIN teams tm ON tm.id = b.team_id
WHERE b.day < (%(end)s::timestamptz AT TIME ZONE 'UTC')::date
  AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
  AND (%(category)s::text IS NULL OR c.slug = %(category)s)
GROUP BY 1

-- name: ticket_times
-- The tickets %(tickets)s as the rollup keeps them: team, category, created, first response by a person of the desk
-- (as in queries.sql's response_times), resolved, and first contact (as in queries.sql's fcr).
SELECT t.id, t.team_id, t.category_id, t.created_at, t.resolved_at,
       NOT EXISTS (
           SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND (
               (e.kind = 'status_changed' AND e.before->>'status' = 'resolved'
                AND e.after->>'status' IN ('new', 'assigned', 'in_progress'))
               OR (e.kind = 'status_changed' AND e.after->>'status' = 'pending')
               OR (e.before ? 'team_id' AND e.before->>'team_id' IS NOT NULL
                   AND e.after->>'team_id' IS DISTINCT FROM e.before->>'team_id'))) AS first_contact,
       (SELECT min(e.created_at) FROM ticket_events e JOIN users u ON u.id = e.actor_id
        WHERE e.ticket_id = t.id AND u.role IN ('agent', 'admin')
          AND (e.kind IN ('assigned', 'status_changed')
               OR (e.kind = 'commented' AND NOT coalesce((e.after->>'internal')::boolean, false)))) AS responded_at
FROM tickets t WHERE t.id = ANY(%(tickets)s::bigint[])

-- name: put_duration
-- Writes a ticket's row.
INSERT INTO ticket_durations (ticket_id, team_id, category_id, created_at, responded_at, resolved_at,
                              respond_business_s, resolve_business_s, first_contact, calendar_hash, rolled_upto)
VALUES (%(id)s, %(team_id)s, %(category_id)s, %(created_at)s, %(responded_at)s, %(resolved_at)s,
        %(respond_s)s, %(resolve_s)s, %(first_contact)s, %(calendar_hash)s, %(upto)s)
ON CONFLICT (ticket_id) DO UPDATE SET
    team_id = EXCLUDED.team_id, category_id = EXCLUDED.category_id, created_at = EXCLUDED.created_at,
    responded_at = EXCLUDED.responded_at, resolved_at = EXCLUDED.resolved_at,
    respond_business_s = EXCLUDED.respond_business_s, resolve_business_s = EXCLUDED.resolve_business_s,
    first_contact = EXCLUDED.first_contact, calendar_hash = EXCLUDED.calendar_hash, rolled_upto = EXCLUDED.rolled_upto

-- name: set_watermarks
-- Records how far the rollups now go.
UPDATE analytics_rollup_state
SET ticket_watermark = %(ticket_upto)s, event_watermark = %(event_upto)s, refreshed_at = now()

-- name: reset
-- Empties the rollups (the next refresh builds them from every ticket).
TRUNCATE ticket_durations, backlog_daily

-- name: reset_state
-- The rollups hold nothing.
UPDATE analytics_rollup_state SET ticket_watermark = 0, event_watermark = 0, refreshed_at = NULL

-- name: respond_durations
-- MTTA's tickets: created in the period, in the team and category. For one rolled up, unchanged since (same team,
-- times, no newer event) and counted in its team's calendar as it is now (%(calendar_teams)s / %(calendar_hashes)s:
-- each team's calendar fingerprint), the rollup's business seconds to the first response (NULL: none); for the
-- others (rolled NULL) its creation and first response, as queries.sql's response_times finds it.
WITH touched AS MATERIALIZED (
    SELECT id FROM tickets WHERE id > %(ticket_watermark)s
    UNION
    SELECT ticket_id FROM ticket_events WHERE id > %(event_watermark)s
), calendars AS (
    SELECT * FROM unnest(%(calendar_teams)s::bigint[], %(calendar_hashes)s::text[]) AS c(team_id, calendar_hash)
)
SELECT t.team_id, coalesce(tm.slug, 'none') AS team, coalesce(c.slug, 'none') AS category,
       d.ticket_id AS rolled, d.respond_business_s AS seconds,
       CASE WHEN d.ticket_id IS NULL THEN t.created_at END AS created_at,
       CASE WHEN d.ticket_id IS NULL THEN (SELECT min(e.created_at) FROM ticket_events e JOIN users u ON u.id = e.actor_id
                 WHERE e.ticket_id = t.id AND u.role IN ('agent', 'admin')
                   AND (e.kind IN ('assigned', 'status_changed')
                        OR (e.kind = 'commented' AND NOT coalesce((e.after->>'internal')::boolean, false)))) END AS ended_at
FROM tickets t
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id
LEFT JOIN LATERAL (  -- one row by its key (LIMIT: not a join of the whole table)
    SELECT d.ticket_id, d.respond_business_s FROM ticket_durations d
    WHERE d.ticket_id = t.id AND d.created_at = t.created_at AND d.resolved_at IS NOT DISTINCT FROM t.resolved_at
      AND d.team_id IS NOT DISTINCT FROM t.team_id
      AND d.calendar_hash = (SELECT k.calendar_hash FROM calendars k WHERE k.team_id IS NOT DISTINCT FROM t.team_id)
      AND NOT EXISTS (SELECT 1 FROM touched WHERE touched.id = t.id)
    LIMIT 1) d ON true
WHERE t.created_at >= %(start)s AND t.created_at < %(end)s
  AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
  AND (%(category)s::text IS NULL OR c.slug = %(category)s)

-- name: resolve_durations
-- MTTR's tickets: resolved in the period, in the team and category; the rollup's business seconds to the resolution
-- as in respond_durations, else (rolled NULL) the creation and resolution.
WITH touched AS MATERIALIZED (
    SELECT id FROM tickets WHERE id > %(ticket_watermark)s
    UNION
    SELECT ticket_id FROM ticket_events WHERE id > %(event_watermark)s
), calendars AS (
    SELECT * FROM unnest(%(calendar_teams)s::bigint[], %(calendar_hashes)s::text[]) AS c(team_id, calendar_hash)
)
SELECT t.team_id, coalesce(tm.slug, 'none') AS team, coalesce(c.slug, 'none') AS category,
       d.ticket_id AS rolled, d.resolve_business_s AS seconds,
       CASE WHEN d.ticket_id IS NULL THEN t.created_at END AS created_at,
       CASE WHEN d.ticket_id IS NULL THEN t.resolved_at END AS ended_at
FROM tickets t
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id
LEFT JOIN LATERAL (  -- one row by its key (LIMIT: not a join of the whole table)
    SELECT d.ticket_id, d.resolve_business_s FROM ticket_durations d
    WHERE d.ticket_id = t.id AND d.created_at = t.created_at AND d.resolved_at IS NOT DISTINCT FROM t.resolved_at
      AND d.team_id IS NOT DISTINCT FROM t.team_id
      AND d.calendar_hash = (SELECT k.calendar_hash FROM calendars k WHERE k.team_id IS NOT DISTINCT FROM t.team_id)
      AND NOT EXISTS (SELECT 1 FROM touched WHERE touched.id = t.id)
    LIMIT 1) d ON true
WHERE t.resolved_at >= %(start)s AND t.resolved_at < %(end)s
  AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
  AND (%(category)s::text IS NULL OR c.slug = %(category)s)

-- name: fcr
-- queries.sql's fcr, with the rollup's first_contact for the tickets rolled up and unchanged since.
WITH touched AS MATERIALIZED (
    SELECT id FROM tickets WHERE id > %(ticket_watermark)s
    UNION
    SELECT ticket_id FROM ticket_events WHERE id > %(event_watermark)s
), resolved AS (
    SELECT t.id, d.first_contact FROM tickets t
    LEFT JOIN categories c ON c.id = t.category_id
    LEFT JOIN teams tm ON tm.id = t.team_id
    LEFT JOIN LATERAL (  -- one row by its key (LIMIT: not a join of the whole table)
        SELECT d.first_contact FROM ticket_durations d
        WHERE d.ticket_id = t.id AND NOT EXISTS (SELECT 1 FROM touched WHERE touched.id = t.id) LIMIT 1) d ON true
    WHERE t.status IN ('resolved', 'closed') AND t.resolved_at >= %(start)s AND t.resolved_at < %(end)s
      AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
      AND (%(category)s::text IS NULL OR c.slug = %(category)s)
)
SELECT count(*) AS resolved,
       count(*) FILTER (WHERE coalesce(t.first_contact, NOT EXISTS (
                   SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND (
                       (e.kind = 'status_changed' AND e.before->>'status' = 'resolved'
                        AND e.after->>'status' IN ('new', 'assigned', 'in_progress'))
                       OR (e.kind = 'status_changed' AND e.after->>'status' = 'pending')
                       OR (e.before ? 'team_id' AND e.before->>'team_id' IS NOT NULL
                           AND e.after->>'team_id' IS DISTINCT FROM e.before->>'team_id'))))) AS first_contact
FROM resolved t
