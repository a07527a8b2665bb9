-- name: create_survey
-- The ticket's survey, once: a ticket asked before (resolved, reopened since) is not asked again. A survey not
-- asked yet (its ticket reopened before it went out) is queued again for this resolution and its resolver. Returns
-- the survey's id when it is to be sent, else nothing.
INSERT INTO csat_surveys (ticket_id, requester_id, resolved_by, resolver_id)
SELECT t.id, t.requester_id, %(resolved_by)s, %(resolver_id)s FROM tickets t WHERE t.id = %(ticket_id)s
ON CONFLICT (ticket_id) DO UPDATE
    SET resolved_by = EXCLUDED.resolved_by, resolver_id = EXCLUDED.resolver_id, status = 'queued', error = NULL,
        created_at = now()
    WHERE csat_surveys.asked_at IS NULL AND csat_surveys.status IN ('queued', 'skipped')
RETURNING id

-- name: lock_survey
-- A survey for the worker's send, with its ticket's status, locked so a second job waits and then finds it sent.
SELECT s.*, t.status AS ticket_status FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id
WHERE s.id = %(id)s FOR UPDATE OF s

-- name: mark_sent
-- The survey went out (on ``channel``, in ``conversation_id`` for a chat; ``token_hash`` for e-mail links).
UPDATE csat_surveys SET status = 'sent', channel = %(channel)s, conversation_id = %(conversation_id)s,
       token_hash = %(token_hash)s, token_expires_at = %(token_expires_at)s, asked_at = now(), error = NULL
WHERE id = %(id)s

-- name: mark_unsent
-- The survey will not go out: 'skipped' (nowhere to ask, CSAT off) or 'failed' (the channel refused for good).
UPDATE csat_surveys SET status = %(status)s, channel = %(channel)s, error = %(error)s WHERE id = %(id)s

-- name: get_survey
-- A survey with its ticket's number and title.
SELECT s.*, t.number AS ticket_number, t.title AS ticket_title
FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id
WHERE s.id = %(id)s

-- name: survey_of_ticket
-- The ticket's survey, if it has one.
SELECT s.*, t.number AS ticket_number, t.title AS ticket_title
FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id
WHERE s.ticket_id = %(ticket_id)s

-- name: answer
-- Records the score (and comment) of a survey asked and not answered yet; returns it, or nothing when it was
-- answered before (or never asked).
UPDATE csat_surveys SET score = %(score)s, comment = %(comment)s, answered_at = now()
WHERE id = %(id)s AND status = 'sent' AND answered_at IS NULL
RETURNING id

-- name: prompt_comment
-- The bot asked for a comment on an answered survey with the message ``message_id``.
UPDATE csat_surveys SET comment_prompt_id = %(message_id)s WHERE id = %(id)s AND comment IS NULL

-- name: awaiting_comment
-- The survey whose comment this conversation's next message is: the conversation's last message is its prompt.
SELECT s.id, t.number AS ticket_number
FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id
WHERE s.comment IS NULL AND s.comment_prompt_id = (
    SELECT max(m.id) FROM chat_messages m WHERE m.conversation_id = %(conversation_id)s)

-- name: set_comment
-- Records the comment of an answered survey that has none yet.
UPDATE csat_surveys SET comment = %(comment)s, comment_prompt_id = NULL
WHERE id = %(id)s AND comment IS NULL AND answered_at IS NOT NULL
RETURNING id

-- name: report
-- Surveys of tickets resolved in [from, to), by team and category slug, split by who resolved them: how many were
-- asked and answered, the average score and the count of each score.
SELECT s.resolved_by, count(*) FILTER (WHERE s.status = 'sent') AS asked, count(s.score) AS answered,
       round(avg(s.score), 2)::float AS average,
       count(*) FILTER (WHERE s.score = 1) AS s1, count(*) FILTER (WHERE s.score = 2) AS s2,
       count(*) FILTER (WHERE s.score = 3) AS s3, count(*) FILTER (WHERE s.score = 4) AS s4,
       count(*) FILTER (WHERE s.score = 5) AS s5
FROM csat_surveys s JOIN tickets_v t ON t.id = s.ticket_id
WHERE (%(from)s::timestamptz IS NULL OR s.created_at >= %(from)s)
  AND (%(to)s::timestamptz IS NULL OR s.created_at < %(to)s)
  AND (%(team)s::text IS NULL OR t.team = %(team)s)
  AND (%(category)s::text IS NULL OR t.category = %(category)s)
GROUP BY s.resolved_by

-- name: responses
-- The answered surveys of the same selection whose ticket the caller may see (the ticket service's visibility
-- rule: admins all; agents their teams', their own and unassigned tickets), newest answer first, at most ``limit``.
SELECT s.id, s.ticket_id, t.number AS ticket_number, t.team, t.category, s.resolved_by, s.resolver_id,
       s.channel, s.score, s.comment, s.asked_at, s.answered_at
FROM csat_surveys s JOIN tickets_v t ON t.id = s.ticket_id
WHERE s.answered_at IS NOT NULL
  AND (%(see_all)s OR t.requester_id = %(uid)s
       OR (%(is_agent)s AND (t.team_id = ANY(%(team_ids)s) OR t.assignee_id = %(uid)s OR t.assignee_id IS NULL)))
  AND (%(from)s::timestamptz IS NULL OR s.created_at >= %(from)s)
  AND (%(to)s::timestamptz IS NULL OR s.created_at < %(to)s)
  AND (%(team)s::text IS NULL OR t.team = %(team)s)
  AND (%(category)s::text IS NULL OR t.category = %(category)s)
ORDER BY s.answered_at DESC, s.id DESC
LIMIT %(limit)s
