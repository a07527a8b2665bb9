-- Knowledge base (api side): articles as shown, answers, feedback, views, trends and suggestions.
-- The index itself (chunks, search) is kb_index/queries.sql.

-- name: get_article
-- An article with its helpfulness counts.
SELECT * FROM kb_articles_v WHERE id = %(id)s

-- name: article_by_seq
-- An article by its numeric handle (idempotent replays).
SELECT * FROM kb_articles_v WHERE seq = %(seq)s

-- name: lock_article
-- Locks an article row for a change.
SELECT id, version FROM kb_articles WHERE id = %(id)s FOR UPDATE

-- name: list_articles
-- Articles the caller may see, by title, optionally one category or status.
SELECT * FROM kb_articles_v
WHERE audience = ANY(%(audiences)s) AND status = ANY(%(statuses)s)
  AND (%(category)s::text IS NULL OR category = %(category)s)
ORDER BY title, id
LIMIT %(limit)s

-- name: article_exists
-- Whether an id is taken.
SELECT 1 FROM kb_articles WHERE id = %(id)s

-- name: insert_answer
-- Records an answer given.
INSERT INTO kb_answers (user_id, question, question_embedding, mode, confident, best_similarity, article_ids, answer)
VALUES (%(user_id)s, %(question)s, %(embedding)s, %(mode)s, %(confident)s, %(best_similarity)s, %(article_ids)s,
        %(answer)s)
RETURNING id

-- name: lock_answer
-- An answer row, locked, for feedback.
SELECT id, user_id, article_ids, helpful FROM kb_answers WHERE id = %(id)s FOR UPDATE

-- name: set_answer_feedback
-- Stores the asker's verdict on an answer.
UPDATE kb_answers SET helpful = %(helpful)s, feedback_at = now() WHERE id = %(id)s

-- name: upsert_answer_article_feedback
-- One vote per cited article of a rated answer (a changed verdict replaces it); deleted articles are skipped.
INSERT INTO kb_feedback (article_id, answer_id, user_id, helpful)
SELECT a.id, %(answer_id)s, %(user_id)s, %(helpful)s FROM kb_articles a WHERE a.id = ANY(%(article_ids)s)
ON CONFLICT (answer_id, article_id) WHERE answer_id IS NOT NULL DO UPDATE SET helpful = excluded.helpful,
    created_at = now()

-- name: upsert_article_feedback
-- A person's helpfulness vote on an article read directly: one per person and article, the last one wins.
INSERT INTO kb_feedback (article_id, user_id, helpful) VALUES (%(article_id)s, %(user_id)s, %(helpful)s)
ON CONFLICT (article_id, user_id) WHERE answer_id IS NULL DO UPDATE SET helpful = excluded.helpful,
    created_at = now()

-- name: weak_questions
-- Recent questions that were not answered confidently and still have no close chunk in a published
-- article; members of approved or dismissed suggestions are left out.
SELECT q.id, q.question AS text, q.question_embedding AS embedding, q.user_id
FROM kb_answers q
WHERE NOT q.confident AND q.created_at > now() - make_interval(days => %(days)s)
  AND q.question_embedding IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM kb_suggestions s WHERE s.status <> 'open' AND q.id = ANY(s.answer_ids))
  AND kb_published_similarity(q.question_embedding) < %(good)s
ORDER BY q.id DESC
LIMIT %(limit)s

-- name: recent_tickets
-- Recent tickets with their cached text hash (NULL when not embedded yet), unless already decided on.
SELECT t.id, t.title, t.description, v.text_hash
FROM tickets t LEFT JOIN kb_ticket_vectors v ON v.ticket_id = t.id
WHERE t.created_at > now() - make_interval(days => %(days)s)
  AND NOT EXISTS (SELECT 1 FROM kb_suggestions s WHERE s.status <> 'open' AND t.id = ANY(s.ticket_ids))
ORDER BY t.id DESC
LIMIT %(limit)s

-- name: upsert_ticket_vector
-- Caches a ticket's embedding.
INSERT INTO kb_ticket_vectors (ticket_id, text_hash, embedding) VALUES (%(ticket_id)s, %(text_hash)s, %(embedding)s)
ON CONFLICT (ticket_id) DO UPDATE SET text_hash = excluded.text_hash, embedding = excluded.embedding,
    computed_at = now()

-- name: uncovered_tickets
-- Recent embedded tickets with no close chunk in a published article, unless already decided on, with the
-- fields the ticket service's visibility rule reads.
SELECT t.id, t.title AS text, v.embedding, t.requester_id, t.team_id, t.assignee_id
FROM tickets t JOIN kb_ticket_vectors v ON v.ticket_id = t.id
WHERE t.created_at > now() - make_interval(days => %(days)s)
  AND NOT EXISTS (SELECT 1 FROM kb_suggestions s WHERE s.status <> 'open' AND t.id = ANY(s.ticket_ids))
  AND kb_published_similarity(v.embedding) < %(good)s
ORDER BY t.id DESC
LIMIT %(limit)s

-- name: suggestion_questions
-- The questions of a suggestion with who asked them.
SELECT id, question AS text, user_id FROM kb_answers WHERE id = ANY(%(ids)s)

-- name: suggestion_tickets
-- The tickets of a suggestion, with the fields the ticket service's visibility rule reads.
SELECT id, title AS text, requester_id, team_id, assignee_id FROM tickets WHERE id = ANY(%(ids)s)

-- name: trends_lock
-- Serialises refreshes of the open suggestions.
SELECT pg_advisory_xact_lock(hashtext('kb_suggestions_refresh'))

-- name: open_suggestions
-- The open suggestions, to match new clusters against.
SELECT id, answer_ids, ticket_ids FROM kb_suggestions WHERE status = 'open'

-- name: insert_suggestion
-- A new cluster.
INSERT INTO kb_suggestions (title, questions, size, answer_ids, ticket_ids)
VALUES (%(title)s, %(questions)s, %(size)s, %(answer_ids)s, %(ticket_ids)s)
RETURNING id

-- name: update_suggestion
-- Refreshes an open suggestion from its cluster.
UPDATE kb_suggestions SET title = %(title)s, questions = %(questions)s, size = %(size)s,
    answer_ids = %(answer_ids)s, ticket_ids = %(ticket_ids)s, updated_at = now()
WHERE id = %(id)s

-- name: delete_open_suggestions
-- Open suggestions whose cluster is gone.
DELETE FROM kb_suggestions WHERE status = 'open' AND id = ANY(%(ids)s)

-- name: get_suggestion
-- A suggestion.
SELECT * FROM kb_suggestions WHERE id = %(id)s

-- name: lock_suggestion
-- A suggestion, locked, to decide on it.
SELECT * FROM kb_suggestions WHERE id = %(id)s FOR UPDATE

-- name: decide_suggestion
-- Approves (with the draft's id) or dismisses a suggestion.
UPDATE kb_suggestions SET status = %(status)s, article_id = %(article_id)s, decided_by = %(user_id)s,
    decided_at = now(), updated_at = now()
WHERE id = %(id)s
RETURNING *

-- name: ticket_vector
-- A ticket's cached embedding when it is of the ticket's current text (``text_hash``), else nothing.
SELECT embedding FROM kb_ticket_vectors WHERE ticket_id = %(ticket_id)s AND text_hash = %(text_hash)s

-- name: unembedded_resolved
-- Resolved and closed tickets without a vector of their current text: none yet, or changed since it was computed
-- (the hash is api/kb/similar.py's text_hash: sha256 of title, newline, description), most recently resolved first.
SELECT t.id, t.title, t.description
FROM tickets t LEFT JOIN kb_ticket_vectors v ON v.ticket_id = t.id
WHERE t.status IN ('resolved', 'closed')
  AND (v.ticket_id IS NULL
       OR (t.updated_at > v.computed_at
           AND v.text_hash <> encode(sha256(convert_to(t.title || E'\n' || t.description, 'UTF8')), 'hex')))
ORDER BY t.resolved_at DESC NULLS LAST, t.id DESC
LIMIT %(limit)s

-- name: similar_resolved
-- The resolved or closed tickets the caller may see (the ticket service's visibility rule) nearest to a vector,
-- other than the ticket itself and at least ``min_similarity`` close, with how each was resolved: the reason
-- given when it was last resolved, else its last public comment.
SELECT n.id, n.number, n.title, n.status, n.resolution, n.resolved_at, n.similarity,
       coalesce(nullif(r.reason, ''), c.body) AS resolution_text
FROM (SELECT t.id, t.number, t.title, t.status, t.resolution, t.resolved_at,
             1 - (v.embedding <=> %(embedding)s) AS similarity
      FROM kb_ticket_vectors v JOIN tickets t ON t.id = v.ticket_id
      WHERE t.status IN ('resolved', 'closed') AND t.id <> %(ticket_id)s
        AND 1 - (v.embedding <=> %(embedding)s) >= %(min_similarity)s
        AND (%(see_all)s OR t.requester_id = %(uid)s
             OR (%(is_agent)s AND (t.team_id = ANY(%(team_ids)s) OR t.assignee_id = %(uid)s
                                   OR t.assignee_id IS NULL)))
      ORDER BY v.embedding <=> %(embedding)s
      LIMIT %(limit)s) n
LEFT JOIN LATERAL (SELECT e.meta->>'reason' AS reason FROM ticket_events e
                   WHERE e.ticket_id = n.id AND e.kind = 'status_changed' AND e.after->>'status' = 'resolved'
                   ORDER BY e.id DESC LIMIT 1) r ON true
LEFT JOIN LATERAL (SELECT body FROM ticket_comments
                   WHERE ticket_id = n.id AND NOT internal ORDER BY id DESC LIMIT 1) c ON true
ORDER BY n.similarity DESC, n.id DESC
