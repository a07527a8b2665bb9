-- Retention: each purge deletes up to %(batch)s rows past their age (all of them are counted and none
-- deleted when %(dry_run)s), and returns how many matched and how many went. Nothing that belongs to
-- an open ticket goes; tickets, their comments and their audit events are never purged.
-- Open = new, assigned, in_progress, pending (api/tickets/models.py OPEN_STATUSES).

-- name: chat_messages
-- Messages of conversations idle for %(days)s days, unless an open ticket came from the conversation.
WITH doomed AS (
    SELECT m.ctid FROM chat_messages m
    WHERE m.conversation_id IN (SELECT id FROM retention_idle_conversations(%(days)s))
    LIMIT %(batch)s
), gone AS (
    DELETE FROM chat_messages WHERE ctid IN (SELECT ctid FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: chat_conversations
-- Conversations idle for %(days)s days, unless an open ticket came from them (messages cascade).
WITH doomed AS (
    SELECT id FROM retention_idle_conversations(%(days)s) LIMIT %(batch)s
), gone AS (
    DELETE FROM chat_conversations WHERE id IN (SELECT id FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: idempotency_keys
-- Idempotency-Key claims older than %(hours)s hours: a retry after that creates anew.
WITH doomed AS (
    SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %(hours)s)
    LIMIT %(batch)s
), gone AS (
    DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: kb_answers
-- Knowledge answers older than %(days)s days, with their helpfulness feedback.
WITH doomed AS (
    SELECT id FROM kb_answers WHERE created_at < now() - make_interval(days => %(days)s) LIMIT %(batch)s
), gone AS (
    DELETE FROM kb_answers WHERE id IN (SELECT id FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: notifications
-- In-app notifications older than %(days)s days, except those about open tickets.
WITH doomed AS (
    SELECT n.id FROM notifications n
    WHERE n.created_at < now() - make_interval(days => %(days)s)
      AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = n.ticket_id
                      AND t.status IN ('new', 'assigned', 'in_progress', 'pending'))
    LIMIT %(batch)s
), gone AS (
    DELETE FROM notifications WHERE id IN (SELECT id FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: alert_firings
-- Alert history older than %(days)s days whose deliveries are all final (sent, failed, dead, skipped),
-- except for open tickets; deliveries and attempts go with their firing.
WITH doomed AS (
    SELECT f.id FROM alert_firings f JOIN tickets t ON t.id = f.ticket_id
    WHERE f.created_at < now() - make_interval(days => %(days)s)
      AND t.status NOT IN ('new', 'assigned', 'in_progress', 'pending')
      AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.firing_id = f.id
                      AND d.status NOT IN ('sent', 'failed', 'dead', 'skipped'))
    LIMIT %(batch)s
), gone AS (
    DELETE FROM alert_firings WHERE id IN (SELECT id FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: procrastinate_jobs
-- Finished jobs (succeeded, failed, cancelled, aborted) whose last event is older than %(days)s days
-- (procrastinate's delete trigger unlinks periodic schedules; events cascade).
WITH doomed AS (
    SELECT j.id FROM procrastinate_jobs j
    WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
      AND (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id)
          < now() - make_interval(days => %(days)s)
    LIMIT %(batch)s
), gone AS (
    DELETE FROM procrastinate_jobs WHERE id IN (SELECT id FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: rate_limits
-- Rate-limit windows without a hit for a day.
WITH doomed AS (
    SELECT key FROM rate_limits WHERE updated_at < now() - interval '1 day' LIMIT %(batch)s
), gone AS (
    DELETE FROM rate_limits WHERE key IN (SELECT key FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: channel_inbound
-- The ids of Slack events and Teams activities taken, older than %(days)s days: a channel retries within
-- minutes to hours, so a delivery that old is not seen again.
WITH doomed AS (
    SELECT ctid FROM channel_inbound WHERE received_at < now() - make_interval(days => %(days)s)
    LIMIT %(batch)s
), gone AS (
    DELETE FROM channel_inbound WHERE ctid IN (SELECT ctid FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: web_sessions
-- Web sessions that have ended (idle or absolute expiry); signing out deletes its session at once.
WITH doomed AS (
    SELECT id_hash FROM web_sessions WHERE expires_at <= now() OR idle_expires_at <= now() LIMIT %(batch)s
), gone AS (
    DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted

-- name: signin_links
-- One-time sign-in links a day past their expiry (kept that long to say "expired" rather than "not valid").
WITH doomed AS (
    SELECT token_hash FROM signin_links WHERE expires_at < now() - interval '1 day' LIMIT %(batch)s
), gone AS (
    DELETE FROM signin_links WHERE token_hash IN (SELECT token_hash FROM doomed) AND NOT %(dry_run)s RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS matched, (SELECT count(*) FROM gone) AS deleted
