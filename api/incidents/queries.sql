-- Me too: the people affected by a ticket, major incidents, and matching a new report against both.

-- name: lock_matching
-- Serialises matching and linking (one transaction at a time decides link or new ticket): a transaction-scoped
-- advisory lock, released at commit or rollback.
SELECT pg_advisory_xact_lock(hashtext('deskmate.incidents.matching'))

-- name: intent_category
-- The category a chat intent implies (triage's mapping), if any.
SELECT category_id FROM intent_categories WHERE intent = %(intent)s

-- name: candidates
-- Open incident tickets whose reports (recent ones; any age for a major incident) or major-incident summary are
-- close to a text's embedding: the best similarity per ticket, major incidents first, then the closest. The
-- reporter's own tickets are left out (reporting again is not "me too"; it opens another ticket as before).
WITH reports AS (
    SELECT a.ticket_id, 1 - (a.embedding <=> %(embedding)s::vector) AS similarity, a.category_id
    FROM incident_affected_users a
    WHERE a.embedding IS NOT NULL
      AND (a.linked_at > now() - make_interval(secs => %(window_s)s)
           OR EXISTS (SELECT 1 FROM major_incidents m WHERE m.ticket_id = a.ticket_id))
    UNION ALL
    SELECT m.ticket_id, 1 - (m.embedding <=> %(embedding)s::vector), NULL
    FROM major_incidents m WHERE m.embedding IS NOT NULL
)
SELECT t.id, t.number, t.title, t.status, t.requester_id, t.category_id, (m.ticket_id IS NOT NULL) AS major,
       max(r.similarity) AS similarity,
       (array_agg(r.category_id) FILTER (WHERE r.category_id IS NOT NULL))[1] AS report_category_id
FROM reports r
JOIN tickets t ON t.id = r.ticket_id
LEFT JOIN major_incidents m ON m.ticket_id = t.id
WHERE t.status IN ('new', 'assigned', 'in_progress', 'pending') AND t.type = 'incident'
  AND t.requester_id <> %(user_id)s
GROUP BY t.id, m.ticket_id
HAVING max(r.similarity) >= %(min_similarity)s
ORDER BY (m.ticket_id IS NOT NULL) DESC, max(r.similarity) DESC
LIMIT 10

-- name: insert_affected
-- Records a person affected by a ticket with their words; nothing when they already are.
INSERT INTO incident_affected_users (ticket_id, user_id, conversation_id, role, report, embedding, category_id)
VALUES (%(ticket_id)s, %(user_id)s, %(conversation_id)s, %(role)s, %(report)s, %(embedding)s::vector, %(category_id)s)
ON CONFLICT (ticket_id, user_id) DO NOTHING
RETURNING id

-- name: affected_row
-- One person's row on a ticket.
SELECT * FROM incident_affected_users WHERE ticket_id = %(ticket_id)s AND user_id = %(user_id)s

-- name: recent_reports
-- How many people reported a ticket within the window.
SELECT count(*) AS n FROM incident_affected_users
WHERE ticket_id = %(ticket_id)s AND linked_at > now() - make_interval(secs => %(window_s)s)

-- name: affected_count
-- How many people a ticket affects.
SELECT count(*) AS n FROM incident_affected_users WHERE ticket_id = %(ticket_id)s

-- name: list_affected
-- The people affected by a ticket, first reported first, with names and addresses.
SELECT a.user_id, u.name, u.email, a.role, a.conversation_id, a.linked_at
FROM incident_affected_users a JOIN users u ON u.id = a.user_id
WHERE a.ticket_id = %(ticket_id)s
ORDER BY a.linked_at, a.id

-- name: linked_user_ids
-- The people linked to a ticket as "me too" (its requester left out).
SELECT user_id FROM incident_affected_users WHERE ticket_id = %(ticket_id)s AND role = 'linked' ORDER BY id

-- name: unlink_conversation
-- Removes the "me too" links made from a conversation (the employee said theirs is different).
DELETE FROM incident_affected_users WHERE conversation_id = %(conversation_id)s AND role = 'linked'
RETURNING ticket_id

-- name: get_major
-- A ticket's major-incident declaration.
SELECT * FROM major_incidents WHERE ticket_id = %(ticket_id)s

-- name: insert_major
-- Declares a ticket a major incident (once).
INSERT INTO major_incidents (ticket_id, declared_by, automatic, summary, embedding)
VALUES (%(ticket_id)s, %(declared_by)s, %(automatic)s, %(summary)s, %(embedding)s::vector)
ON CONFLICT (ticket_id) DO NOTHING
RETURNING *

-- name: delete_major
-- Withdraws a major-incident declaration.
DELETE FROM major_incidents WHERE ticket_id = %(ticket_id)s RETURNING ticket_id

-- name: linked_issue
-- The ticket a conversation's employee was linked to from that conversation (a repeated turn's answer).
SELECT t.id, t.number, t.title, t.status, t.requester_id, (m.ticket_id IS NOT NULL) AS major
FROM incident_affected_users a
JOIN tickets t ON t.id = a.ticket_id
LEFT JOIN major_incidents m ON m.ticket_id = t.id
WHERE a.ticket_id = %(ticket_id)s AND a.user_id = %(user_id)s AND a.role = 'linked'
  AND a.conversation_id = %(conversation_id)s
