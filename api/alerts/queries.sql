-- Alert rules, firings, deliveries with their attempts, in-app notifications.

-- name: list_rules
-- Alert rules by id.
SELECT *, secret_encrypted IS NOT NULL AS has_webhook_secret FROM alert_rules
WHERE (%(id)s::bigint IS NULL OR id = %(id)s)
ORDER BY id

-- name: create_rule
-- Inserts an alert rule.
INSERT INTO alert_rules (name, enabled, events, conditions, channels, dedup_window_s, secret_encrypted, created_by)
VALUES (%(name)s, %(enabled)s, %(events)s, %(conditions)s, %(channels)s, %(dedup_window_s)s, %(secret_encrypted)s,
        %(created_by)s)
RETURNING id

-- name: update_rule
-- Replaces an alert rule (the secret only when a new one is given).
UPDATE alert_rules SET name = %(name)s, enabled = %(enabled)s, events = %(events)s, conditions = %(conditions)s,
    channels = %(channels)s, dedup_window_s = %(dedup_window_s)s,
    secret_encrypted = coalesce(%(secret_encrypted)s, secret_encrypted), updated_at = now()
WHERE id = %(id)s
RETURNING id, secret_encrypted IS NOT NULL AS has_secret

-- name: set_secret
-- Stores a rule's (encrypted) webhook secret.
UPDATE alert_rules SET secret_encrypted = %(secret_encrypted)s, updated_at = now() WHERE id = %(id)s RETURNING id

-- name: delete_rule
-- Deletes an alert rule with its history.
DELETE FROM alert_rules WHERE id = %(id)s RETURNING id

-- name: rules_for_events
-- Enabled rules that listen to any of these event kinds.
SELECT * FROM alert_rules WHERE enabled AND events && %(kinds)s::text[] ORDER BY id

-- name: ticket_context
-- A ticket with the names templates and conditions need.
SELECT t.id, t.number, t.title, t.description, t.status, t.priority, t.urgency, t.impact, t.source_type,
       t.team_id, t.assignee_id, t.requester_id, t.respond_due_at, t.resolve_due_at, t.created_at,
       c.slug AS category, tm.slug AS team, tm.name AS team_name, a.name AS assignee, a.email AS assignee_email,
       r.name AS requester, r.email AS requester_email, r.vip AS requester_vip
FROM tickets t
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id
LEFT JOIN users a ON a.id = t.assignee_id
JOIN users r ON r.id = t.requester_id
WHERE t.id = %(ticket_id)s

-- name: user_name
-- A user's display name.
SELECT name FROM users WHERE id = %(id)s

-- name: comment
-- A comment with its author's name; none for a system account (a sync connector, a workflow): templates then name
-- the service desk, as the employee knows it.
SELECT c.body, c.internal, CASE WHEN u.role = 'service' THEN NULL ELSE u.name END AS author
FROM ticket_comments c LEFT JOIN users u ON u.id = c.author_id
WHERE c.id = %(id)s

-- name: people
-- Active users by id, with the addresses alerts go to.
SELECT id, name, email, phone FROM users WHERE id = ANY(%(ids)s) AND active ORDER BY id

-- name: team_people
-- Active agents and admins of a team (by slug, or by id when the slug is null).
SELECT u.id, u.name, u.email, u.phone
FROM team_members m JOIN users u ON u.id = m.user_id
WHERE m.team_id = coalesce((SELECT id FROM teams WHERE slug = %(slug)s), %(team_id)s)
  AND u.active AND u.role IN ('agent', 'admin')
ORDER BY u.id

-- name: lock_dedup
-- Serialises firings of one rule for one ticket and event kind.
SELECT pg_advisory_xact_lock(hashtextextended('alert:' || %(rule_id)s || ':' || %(ticket_id)s || ':' || %(dedup_key)s, 0))

-- name: firing_exists
-- Whether this rule already handled this event (a re-run of the same job).
SELECT id FROM alert_firings WHERE rule_id = %(rule_id)s AND event_id = %(event_id)s AND event_kind = %(event_kind)s

-- name: recent_firing
-- The rule's latest alert for the same ticket and event within the window.
SELECT id FROM alert_firings
WHERE rule_id = %(rule_id)s AND ticket_id = %(ticket_id)s AND dedup_key = %(dedup_key)s AND status = 'fired'
  AND created_at > now() - make_interval(secs => %(window_s)s)
ORDER BY id DESC LIMIT 1

-- name: insert_firing
-- Records that a rule matched an event.
INSERT INTO alert_firings (rule_id, ticket_id, event_id, event_kind, dedup_key, status, suppressed_by)
VALUES (%(rule_id)s, %(ticket_id)s, %(event_id)s, %(event_kind)s, %(dedup_key)s, %(status)s, %(suppressed_by)s)
RETURNING id

-- name: insert_failed_firing
-- Records that a rule matched an event but could not fire, and why.
INSERT INTO alert_firings (rule_id, ticket_id, event_id, event_kind, dedup_key, status, error)
VALUES (%(rule_id)s, %(ticket_id)s, %(event_id)s, %(event_kind)s, %(dedup_key)s, 'failed', %(error)s)
ON CONFLICT (rule_id, event_id, event_kind) DO UPDATE SET status = 'failed', error = excluded.error
RETURNING id

-- name: recent_failure
-- Whether the rule already failed within the last hour (admins were told then).
SELECT id FROM alert_firings
WHERE rule_id = %(rule_id)s AND status = 'failed' AND id <> %(id)s AND created_at > now() - interval '1 hour'
LIMIT 1

-- name: admins
-- Active admins (told in-app when a rule fails).
SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id

-- name: set_firing_status
-- Marks a firing that found nobody to tell.
UPDATE alert_firings SET status = %(status)s WHERE id = %(id)s

-- name: insert_delivery
-- One message to one recipient.
INSERT INTO alert_deliveries (firing_id, rule_id, ticket_id, channel, recipient, user_id, subject, body, payload,
                              idempotency_key, status, last_error)
VALUES (%(firing_id)s, %(rule_id)s, %(ticket_id)s, %(channel)s, %(recipient)s, %(user_id)s, %(subject)s, %(body)s,
        %(payload)s, %(idempotency_key)s, %(status)s, %(last_error)s)
RETURNING id

-- name: insert_notification
-- An in-app notification.
INSERT INTO notifications (user_id, ticket_id, delivery_id, title, body)
VALUES (%(user_id)s, %(ticket_id)s, %(delivery_id)s, %(title)s, %(body)s)
RETURNING id

-- name: lock_delivery
-- A delivery with its rule's secret, locked while an attempt starts or ends.
SELECT d.*, r.secret_encrypted, r.name AS rule_name, coalesce(d.next_attempt_at > now(), false) AS not_due
FROM alert_deliveries d JOIN alert_rules r ON r.id = d.rule_id
WHERE d.id = %(id)s
FOR UPDATE OF d

-- name: interrupt_attempts
-- Closes attempts a dead worker left open; returns when the earliest of them started.
UPDATE alert_attempts SET status = 'interrupted', finished_at = now(),
    error = 'the worker stopped before the outcome was recorded'
WHERE delivery_id = %(id)s AND status = 'started'
RETURNING started_at

-- name: start_attempt
-- Counts an attempt and marks the delivery as being sent.
WITH d AS (
    UPDATE alert_deliveries SET status = 'sending', attempts = attempts + 1, next_attempt_at = NULL, updated_at = now()
    WHERE id = %(id)s RETURNING id, attempts
)
INSERT INTO alert_attempts (delivery_id, attempt, status) SELECT id, attempts, 'started' FROM d
RETURNING attempt

-- name: finish_attempt
-- Records how an attempt ended.
UPDATE alert_attempts SET status = %(status)s, error = %(error)s, detail = %(detail)s, finished_at = now()
WHERE delivery_id = %(id)s AND attempt = %(attempt)s

-- name: finish_delivery
-- Records where a delivery stands after an attempt.
UPDATE alert_deliveries SET status = %(status)s, external_id = coalesce(%(external_id)s, external_id),
    last_error = %(last_error)s, next_attempt_at = %(next_attempt_at)s,
    sent_at = CASE WHEN %(status)s = 'sent' THEN now() ELSE sent_at END, updated_at = now()
WHERE id = %(id)s

-- name: requeue_delivery
-- Sends a failed or dead delivery again (an admin's re-drive).
UPDATE alert_deliveries SET status = 'retrying', next_attempt_at = now(), updated_at = now()
WHERE id = %(id)s AND status IN ('failed', 'dead')
RETURNING id

-- name: list_firings
-- Alert history, newest first, filtered, after a cursor.
SELECT f.*, r.name AS rule_name, t.number AS ticket_number,
       t.requester_id, t.team_id, t.assignee_id
FROM alert_firings f JOIN alert_rules r ON r.id = f.rule_id JOIN tickets t ON t.id = f.ticket_id
WHERE (%(ticket_id)s::bigint IS NULL OR f.ticket_id = %(ticket_id)s)
  AND (%(rule_id)s::bigint IS NULL OR f.rule_id = %(rule_id)s)
  AND (%(event_kind)s::text IS NULL OR f.event_kind = %(event_kind)s)
  AND (%(status)s::text IS NULL OR f.status = %(status)s OR EXISTS (
        SELECT 1 FROM alert_deliveries d WHERE d.firing_id = f.id AND d.status = %(status)s))
  AND (%(before_id)s::bigint IS NULL OR f.id < %(before_id)s)
ORDER BY f.id DESC
LIMIT %(limit)s

-- name: deliveries_of
-- The deliveries of some firings.
SELECT * FROM alert_deliveries WHERE firing_id = ANY(%(ids)s) ORDER BY id

-- name: attempts_of
-- The attempts of some deliveries.
SELECT * FROM alert_attempts WHERE delivery_id = ANY(%(ids)s) ORDER BY delivery_id, attempt

-- name: list_notifications
-- A user's notifications, newest first.
SELECT id, ticket_id, title, body, created_at, read_at FROM notifications
WHERE user_id = %(user_id)s AND (NOT %(unread)s OR read_at IS NULL)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
ORDER BY id DESC LIMIT %(limit)s

-- name: mark_read
-- Marks one of the user's notifications as read.
UPDATE notifications SET read_at = coalesce(read_at, now())
WHERE id = %(id)s AND user_id = %(user_id)s
RETURNING id, ticket_id, title, body, created_at, read_at

-- name: mark_all_read
-- Marks all of the user's notifications as read.
UPDATE notifications SET read_at = now() WHERE user_id = %(user_id)s AND read_at IS NULL RETURNING id

-- name: stuck_deliveries
-- Deliveries not final whose job is gone (it failed or was lost) for longer than the lease; marked touched.
UPDATE alert_deliveries SET updated_at = now()
WHERE id IN (
    SELECT d.id FROM alert_deliveries d
    WHERE d.status IN ('pending', 'sending', 'retrying')
      AND greatest(d.updated_at, coalesce(d.next_attempt_at, d.updated_at)) < now() - make_interval(secs => %(lease_s)s)
      AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j
                      WHERE j.lock = 'delivery:' || d.id AND j.status IN ('todo', 'doing'))
    ORDER BY d.id LIMIT 500
    FOR UPDATE OF d SKIP LOCKED)
RETURNING id, status
