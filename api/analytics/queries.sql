-- Analytics (docs/analytics.md defines every metric; keep the two in step).
-- Every statement takes %(start)s and %(end)s (timestamptz, the period [start, end)), and the ticket ones
-- %(team)s / %(category)s (slugs or NULL). Buckets are UTC days or ISO weeks (%(granularity)s: day|week).

-- name: volume
-- Tickets created in the period per bucket, by source and by category.
SELECT date_trunc(%(granularity)s, t.created_at AT TIME ZONE 'UTC')::date AS bucket, t.source_type AS source,
       coalesce(c.slug, 'none') AS category, count(*) AS tickets
FROM tickets t
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id
WHERE t.created_at >= %(start)s AND t.created_at < %(end)s
  AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
  AND (%(category)s::text IS NULL OR c.slug = %(category)s)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3

-- name: backlog
-- Open tickets (new, assigned, in_progress, pending) at the end of each bucket: +1 per ticket created,
-- then each status change moves it in or out of the open set.
WITH scoped AS (
    SELECT t.id, t.created_at FROM tickets t
    LEFT JOIN categories c ON c.id = t.category_id
    LEFT JOIN teams tm ON tm.id = t.team_id
    WHERE t.created_at < %(end)s
      AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
      AND (%(category)s::text IS NULL OR c.slug = %(category)s)
), deltas AS (
    SELECT created_at AS at, 1 AS delta FROM scoped
    UNION ALL
    SELECT e.created_at,
           (e.after->>'status' IN ('new', 'assigned', 'in_progress', 'pending'))::int
           - (e.before->>'status' IN ('new', 'assigned', 'in_progress', 'pending'))::int
    FROM ticket_events e JOIN scoped s ON s.id = e.ticket_id
    WHERE e.kind = 'status_changed' AND e.created_at < %(end)s
), buckets AS (
    SELECT b AS bucket
    FROM generate_series(date_trunc(%(granularity)s, %(start)s::timestamptz AT TIME ZONE 'UTC'),
                         (%(end)s::timestamptz AT TIME ZONE 'UTC') - interval '1 microsecond',
                         ('1 ' || %(granularity)s)::interval) AS b
), per_bucket AS (  -- everything before the first bucket counts in it: the running sum starts from there
    SELECT greatest(date_trunc(%(granularity)s, at AT TIME ZONE 'UTC'), (SELECT min(bucket) FROM buckets)) AS bucket,
           sum(delta) AS delta
    FROM deltas GROUP BY 1
)
SELECT b.bucket::date AS bucket, (sum(coalesce(p.delta, 0)) OVER (ORDER BY b.bucket))::int AS open_tickets
FROM buckets b LEFT JOIN per_bucket p ON p.bucket = b.bucket
ORDER BY b.bucket

-- name: response_times
-- Per ticket of the scope: created, first response by a person of the desk (an agent or admin assigning,
-- changing the status or commenting publicly), and the resolution time when resolved in the period.
SELECT t.id, t.team_id, coalesce(tm.slug, 'none') AS team, coalesce(c.slug, 'none') AS category, t.created_at,
       (SELECT min(e.created_at) FROM ticket_events e JOIN users u ON u.id = e.actor_id
        WHERE e.ticket_id = t.id AND u.role IN ('agent', 'admin')
          AND (e.kind IN ('assigned', 'status_changed')
               OR (e.kind = 'commented' AND NOT coalesce((e.after->>'internal')::boolean, false)))) AS responded_at,
       CASE WHEN t.resolved_at >= %(start)s AND t.resolved_at < %(end)s THEN t.resolved_at END AS resolved_at
FROM tickets t
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id
WHERE ((t.created_at >= %(start)s AND t.created_at < %(end)s)
       OR (t.resolved_at >= %(start)s AND t.resolved_at < %(end)s))
  AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
  AND (%(category)s::text IS NULL OR c.slug = %(category)s)

-- name: fcr
-- Tickets resolved (or closed) in the period; first-contact: never reopened, never pending, never moved
-- from one team to another.
WITH resolved AS (
    SELECT t.id FROM tickets t
    LEFT JOIN categories c ON c.id = t.category_id
    LEFT JOIN teams tm ON tm.id = t.team_id
    WHERE t.status IN ('resolved', 'closed') AND t.resolved_at >= %(start)s AND t.resolved_at < %(end)s
      AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
      AND (%(category)s::text IS NULL OR c.slug = %(category)s)
)
SELECT count(*) AS resolved,
       count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM ticket_events e WHERE e.ticket_id = r.id AND (
               (e.kind = 'status_changed' AND e.before->>'status' = 'resolved'
                AND e.after->>'status' IN ('new', 'assigned', 'in_progress'))
               OR (e.kind = 'status_changed' AND e.after->>'status' = 'pending')
               OR (e.before ? 'team_id' AND e.before->>'team_id' IS NOT NULL
                   AND e.after->>'team_id' IS DISTINCT FROM e.before->>'team_id')))) AS first_contact
FROM resolved r

-- name: reopen_rate
-- Tickets with a resolution in the period, and those of them reopened after it (at any time since).
WITH resolutions AS (
    SELECT e.ticket_id, min(e.created_at) AS first_resolved
    FROM ticket_events e
    JOIN tickets t ON t.id = e.ticket_id
    LEFT JOIN categories c ON c.id = t.category_id
    LEFT JOIN teams tm ON tm.id = t.team_id
    WHERE e.kind = 'status_changed' AND e.after->>'status' = 'resolved'
      AND e.created_at >= %(start)s AND e.created_at < %(end)s
      AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
      AND (%(category)s::text IS NULL OR c.slug = %(category)s)
    GROUP BY e.ticket_id
)
SELECT count(*) AS resolved,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM ticket_events e WHERE e.ticket_id = r.ticket_id AND e.kind = 'status_changed'
             AND e.before->>'status' = 'resolved' AND e.after->>'status' IN ('new', 'assigned', 'in_progress')
             AND e.created_at > r.first_resolved)) AS reopened
FROM resolutions r

-- name: sla_compliance
-- Tickets with an SLA clock resolved in the period: met when the clock recorded no breach.
SELECT count(*) AS tickets,
       count(*) FILTER (WHERE s.respond_breached_at IS NULL) AS respond_met,
       count(*) FILTER (WHERE s.resolve_breached_at IS NULL) AS resolve_met,
       count(*) FILTER (WHERE s.respond_breached_at IS NULL AND s.resolve_breached_at IS NULL) AS both_met
FROM tickets t
JOIN ticket_sla s ON s.ticket_id = t.id
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id
WHERE t.resolved_at >= %(start)s AND t.resolved_at < %(end)s
  AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
  AND (%(category)s::text IS NULL OR c.slug = %(category)s)

-- name: sla_breaches
-- 'sla_breach' events in the period per bucket and target (respond/resolve).
SELECT date_trunc(%(granularity)s, e.created_at AT TIME ZONE 'UTC')::date AS bucket,
       coalesce(e.after->>'target', 'unknown') AS target, count(*) AS breaches
FROM ticket_events e
JOIN tickets t ON t.id = e.ticket_id
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id
WHERE e.kind = 'sla_breach' AND e.created_at >= %(start)s AND e.created_at < %(end)s
  AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
  AND (%(category)s::text IS NULL OR c.slug = %(category)s)
GROUP BY 1, 2 ORDER BY 1, 2

-- name: deflection
-- Conversations started in the period, each with its first detected intent and its outcome:
-- escalated (a ticket was opened from it), bot_resolved (not escalated, and a knowledge answer offered in it
-- was rated helpful or a workflow run from it succeeded verified), or open (neither).
WITH convs AS (
    SELECT cv.id,
           (SELECT m.intent FROM chat_messages m WHERE m.conversation_id = cv.id AND m.direction = 'user'
              AND m.intent IS NOT NULL ORDER BY m.id LIMIT 1) AS intent,
           (EXISTS (SELECT 1 FROM chat_messages m WHERE m.conversation_id = cv.id AND m.ticket_id IS NOT NULL)
            OR EXISTS (SELECT 1 FROM chat_tickets ct WHERE ct.conversation_id = cv.id AND ct.ticket_id IS NOT NULL))
           AS escalated,
           (EXISTS (SELECT 1 FROM chat_messages m
                    CROSS JOIN LATERAL jsonb_array_elements(
                        CASE WHEN jsonb_typeof(m.payload->'buttons') = 'array' THEN m.payload->'buttons'
                             ELSE '[]'::jsonb END) AS b(button)
                    JOIN kb_answers a ON b.button->>'payload' = 'deskmate:kb_helpful:' || a.id
                    WHERE m.conversation_id = cv.id AND m.direction = 'bot' AND a.helpful)
            OR EXISTS (SELECT 1 FROM workflow_runs w WHERE w.conversation_id = cv.id AND w.status = 'succeeded'
                         AND w.verified)) AS solved
    FROM chat_conversations cv
    WHERE cv.created_at >= %(start)s AND cv.created_at < %(end)s
)
SELECT coalesce(intent, 'none') AS intent,
       CASE WHEN escalated THEN 'escalated' WHEN solved THEN 'bot_resolved' ELSE 'open' END AS outcome,
       count(*) AS conversations
FROM convs GROUP BY 1, 2 ORDER BY 1, 2

-- name: failing_intents
-- User turns in the period the bot understood badly (nlu_fallback, or confidence below %(threshold)s), by intent.
SELECT coalesce(m.intent, 'none') AS intent, count(*) AS turns,
       count(*) FILTER (WHERE m.intent = 'nlu_fallback' OR m.confidence < %(threshold)s) AS failed
FROM chat_messages m
WHERE m.direction = 'user' AND m.created_at >= %(start)s AND m.created_at < %(end)s AND m.intent IS NOT NULL
GROUP BY 1
HAVING count(*) FILTER (WHERE m.intent = 'nlu_fallback' OR m.confidence < %(threshold)s) > 0
ORDER BY failed DESC, intent
LIMIT %(limit)s

-- name: failing_questions
-- The texts of those turns, most frequent first (case and surrounding space ignored).
SELECT lower(btrim(m.text)) AS question, count(*) AS turns
FROM chat_messages m
WHERE m.direction = 'user' AND m.created_at >= %(start)s AND m.created_at < %(end)s
  AND (m.intent = 'nlu_fallback' OR m.confidence < %(threshold)s)
GROUP BY 1 ORDER BY turns DESC, question LIMIT %(limit)s

-- name: unhelpful_answers
-- Knowledge answers in the period rated "didn't help" or given without confidence, by question.
SELECT lower(btrim(a.question)) AS question, count(*) AS answers,
       count(*) FILTER (WHERE a.helpful IS FALSE) AS not_helpful,
       count(*) FILTER (WHERE NOT a.confident) AS not_confident
FROM kb_answers a
WHERE a.created_at >= %(start)s AND a.created_at < %(end)s AND (a.helpful IS FALSE OR NOT a.confident)
GROUP BY 1 ORDER BY not_helpful DESC, answers DESC, question LIMIT %(limit)s

-- name: kb_articles
-- Articles by views (all-time counter) with the helpful / not helpful votes cast in the period.
SELECT a.id, a.title, a.views,
       count(f.id) FILTER (WHERE f.helpful) AS helpful,
       count(f.id) FILTER (WHERE NOT f.helpful) AS not_helpful
FROM kb_articles a
LEFT JOIN kb_feedback f ON f.article_id = a.id AND f.created_at >= %(start)s AND f.created_at < %(end)s
WHERE (%(category)s::text IS NULL OR a.category = %(category)s)
GROUP BY a.id, a.title, a.views
ORDER BY a.views DESC, helpful DESC, a.id LIMIT %(limit)s

-- name: csat
-- Satisfaction surveys (api/csat) asked or answered in the period, by who resolved the ticket (the bot: a verified
-- workflow run; or a person) and score (NULL: not answered): how many were asked, and answered, in the period.
SELECT s.resolved_by, s.score,
       count(*) FILTER (WHERE s.asked_at >= %(start)s AND s.asked_at < %(end)s) AS asked,
       count(*) FILTER (WHERE s.answered_at >= %(start)s AND s.answered_at < %(end)s) AS answered
FROM csat_surveys s
WHERE ((s.asked_at >= %(start)s AND s.asked_at < %(end)s) OR (s.answered_at >= %(start)s AND s.answered_at < %(end)s))
  AND ((%(team)s::text IS NULL AND %(category)s::text IS NULL) OR EXISTS (  -- no filter: no ticket to look up
      SELECT 1 FROM tickets t
      LEFT JOIN categories c ON c.id = t.category_id
      LEFT JOIN teams tm ON tm.id = t.team_id
      WHERE t.id = s.ticket_id
        AND (%(team)s::text IS NULL OR tm.slug = %(team)s)
        AND (%(category)s::text IS NULL OR c.slug = %(category)s)))
GROUP BY s.resolved_by, s.score
