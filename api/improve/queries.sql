-- The closed loop's statements (api/improve). It reads the chat, KB and ticket tables and writes only its own.

-- name: last_run_until
-- Where the previous clustering pass ended (no row before the first pass).
SELECT until FROM improve_runs ORDER BY until DESC LIMIT 1

-- name: failed_turns
-- The employees' own words (no button payloads) in [since, until) the bot failed on: Rasa fell back
-- (fallback); the next user turn asked for a person (handoff); or out of scope / unsure, and the conversation
-- later got a ticket (escalation). With the ticket's category, if any.
WITH turns AS (
    SELECT m.id, m.conversation_id, m.text, m.intent, m.confidence, m.created_at,
           lead(m.intent) OVER (PARTITION BY m.conversation_id ORDER BY m.id) AS next_intent
    FROM chat_messages m
    WHERE m.direction = 'user' AND m.created_at >= %(since)s - interval '1 hour' AND m.created_at < %(until)s
)
SELECT t.id, t.text, t.intent, t.confidence, tk.ticket_id, tk.category,
       CASE WHEN t.intent = 'nlu_fallback' THEN 'fallback'
            WHEN t.next_intent = 'human_handoff' AND NOT (t.intent = ANY(%(control)s)) THEN 'handoff'
            ELSE 'escalation' END AS reason
FROM turns t
LEFT JOIN LATERAL (
    SELECT ct.ticket_id, c.slug AS category
    FROM chat_tickets ct
    JOIN tickets k ON k.id = ct.ticket_id
    LEFT JOIN categories c ON c.id = k.category_id
    WHERE ct.conversation_id = t.conversation_id AND ct.ticket_id IS NOT NULL AND ct.created_at >= t.created_at
    ORDER BY ct.created_at LIMIT 1
) tk ON true
WHERE t.created_at >= %(since)s
  AND length(btrim(t.text)) >= 3 AND left(t.text, 1) <> '/' AND t.text NOT LIKE 'deskmate:%%'
  AND t.intent IS NOT NULL
  AND (t.intent = 'nlu_fallback'
       OR (t.next_intent = 'human_handoff' AND NOT (t.intent = ANY(%(control)s)))
       OR (tk.ticket_id IS NOT NULL AND (t.intent = 'out_of_scope' OR t.confidence < %(low)s)))
ORDER BY t.id
LIMIT %(limit)s

-- name: unhelpful_answers
-- Knowledge answers their asker rated "didn't help" in [since, until), with the question's embedding.
SELECT a.id, a.question AS text, a.question_embedding AS embedding
FROM kb_answers a
WHERE a.helpful = false AND a.feedback_at >= %(since)s AND a.feedback_at < %(until)s
  AND a.question_embedding IS NOT NULL
ORDER BY a.id
LIMIT %(limit)s

-- name: intent_of_categories
-- The chat intents that imply each of these ticket categories.
SELECT c.slug AS category, ic.intent
FROM intent_categories ic JOIN categories c ON c.id = ic.category_id
WHERE c.slug = ANY(%(categories)s)
ORDER BY c.slug, ic.intent

-- name: insert_run
-- Records a clustering pass.
INSERT INTO improve_runs (since, until, failures, clusters)
VALUES (%(since)s, %(until)s, %(failures)s, %(clusters)s)
RETURNING *

-- name: run_lock
-- One clustering pass at a time (the daily job and an admin's "cluster now").
SELECT pg_advisory_xact_lock(hashtext('deskmate.improve.cluster'))

-- name: nearest_open_proposal
-- The open proposal whose centre is closest to a new cluster's centre (what it proposes may differ: the
-- proposal keeps its own, which an admin may have edited).
SELECT id, size, centroid, 1 - (centroid <=> %(centroid)s) AS similarity
FROM improve_proposals
WHERE status = 'open'
ORDER BY centroid <=> %(centroid)s
LIMIT 1

-- name: insert_proposal
-- Stores a new cluster's proposal.
INSERT INTO improve_proposals (run_id, kind, intent, title, keywords, examples, texts, reasons, basis,
                               message_ids, answer_ids, ticket_ids, size, centroid)
VALUES (%(run_id)s, %(kind)s, %(intent)s, %(title)s, %(keywords)s, %(examples)s, %(texts)s, %(reasons)s,
        %(basis)s, %(message_ids)s, %(answer_ids)s, %(ticket_ids)s, %(size)s, %(centroid)s)
RETURNING id

-- name: merge_proposal
-- Adds a new cluster to an open proposal about the same thing (new texts appended, ids united, the centre
-- computed by the caller).
UPDATE improve_proposals p SET
    texts = (SELECT array_agg(DISTINCT x) FROM unnest(p.texts || %(texts)s::text[]) x),
    examples = CASE WHEN p.kind = 'examples'
                    THEN p.examples || ARRAY(SELECT x FROM unnest(%(candidates)s::text[]) x WHERE NOT x = ANY(p.examples))
                    ELSE p.examples END,
    keywords = %(keywords)s,
    message_ids = ARRAY(SELECT DISTINCT x FROM unnest(p.message_ids || %(message_ids)s::bigint[]) x ORDER BY x),
    answer_ids = ARRAY(SELECT DISTINCT x FROM unnest(p.answer_ids || %(answer_ids)s::bigint[]) x ORDER BY x),
    ticket_ids = ARRAY(SELECT DISTINCT x FROM unnest(p.ticket_ids || %(ticket_ids)s::bigint[]) x ORDER BY x),
    reasons = (SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb) FROM (
                   SELECT k, sum(v::int) AS v FROM (
                       SELECT * FROM jsonb_each_text(p.reasons) UNION ALL SELECT * FROM jsonb_each_text(%(reasons)s)
                   ) r(k, v) GROUP BY k) s),
    size = p.size + %(size)s,
    centroid = %(centroid)s,
    updated_at = now()
WHERE p.id = %(id)s AND p.status = 'open'
RETURNING id

-- name: list_proposals
-- Proposals, newest first, optionally of one status and kind (cursor: ids below before_id).
SELECT * FROM improve_proposals
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
ORDER BY id DESC
LIMIT %(limit)s

-- name: get_proposal
-- One proposal.
SELECT * FROM improve_proposals WHERE id = %(id)s

-- name: lock_proposal
-- One proposal, locked for a decision.
SELECT * FROM improve_proposals WHERE id = %(id)s FOR UPDATE

-- name: edit_proposal
-- An admin's edit of what a proposal proposes.
UPDATE improve_proposals SET kind = %(kind)s, intent = %(intent)s, title = %(title)s, examples = %(examples)s,
                             updated_at = now()
WHERE id = %(id)s
RETURNING *

-- name: decide_proposal
-- Approves or rejects a proposal: who, when and why.
UPDATE improve_proposals SET status = %(status)s, decided_by = %(user_id)s, decided_at = now(), note = %(note)s,
                             article_id = coalesce(%(article_id)s, article_id), updated_at = now()
WHERE id = %(id)s
RETURNING *

-- name: approved_examples
-- The examples every candidate trains on: approved ones and those already in the promoted model.
SELECT id, intent, examples, status FROM improve_proposals
WHERE kind = 'examples' AND status IN ('approved', 'in_model')
ORDER BY id

-- name: in_model_examples
-- The examples the promoted model trained on beyond data/nlu (the gateway's hints follow them).
SELECT id, intent, examples FROM improve_proposals
WHERE kind = 'examples' AND status = 'in_model'
ORDER BY id

-- name: mark_trained
-- The outcome for the proposals a candidate trained on (newly approved ones only; in_model ones stay).
UPDATE improve_proposals SET status = %(status)s, model_version = %(version)s, updated_at = now()
WHERE id = ANY(%(ids)s) AND status = 'approved'

-- name: mark_in_model
-- The proposals a promoted model trained on are in the model now.
UPDATE improve_proposals SET status = 'in_model', model_version = %(version)s, updated_at = now()
WHERE id = ANY(%(ids)s) AND status IN ('approved', 'not_promoted')

-- name: insert_model
-- Records a candidate as its training starts.
INSERT INTO improve_models (version, status, path, config, proposal_ids, examples, requested_by)
VALUES (%(version)s, 'training', %(path)s, %(config)s, %(proposal_ids)s, %(examples)s, %(requested_by)s)
RETURNING *

-- name: update_model
-- Records a candidate's progress and outcome (null leaves a field as it is).
UPDATE improve_models SET
    status = %(status)s,
    baseline = coalesce(%(baseline)s, baseline),
    comparison = coalesce(%(comparison)s, comparison),
    decision = coalesce(%(decision)s, decision),
    error = coalesce(%(error)s, error),
    train_s = coalesce(%(train_s)s, train_s),
    finished_at = CASE WHEN %(status)s IN ('promoted', 'not_promoted', 'failed') THEN now() ELSE finished_at END
WHERE version = %(version)s
RETURNING *

-- name: retire_promoted
-- The promoted model steps down (another is being promoted).
UPDATE improve_models SET status = 'retired' WHERE status = 'promoted' AND version <> %(version)s

-- name: promote_model
-- Marks a model as the one Rasa serves.
UPDATE improve_models SET status = 'promoted', promoted_at = now(), promoted_by = %(user_id)s,
                          decision = coalesce(%(decision)s, decision), finished_at = coalesce(finished_at, now())
WHERE version = %(version)s
RETURNING *

-- name: set_reload
-- What the Rasa servers answered when told to load the model.
UPDATE improve_models SET reload = %(reload)s WHERE version = %(version)s

-- name: get_model
-- One model version.
SELECT * FROM improve_models WHERE version = %(version)s

-- name: lock_model
-- One model version, locked.
SELECT * FROM improve_models WHERE version = %(version)s FOR UPDATE

-- name: promoted_model
-- The model Rasa serves, if the loop promoted one.
SELECT * FROM improve_models WHERE status = 'promoted'

-- name: list_models
-- Model versions, newest first.
SELECT * FROM improve_models ORDER BY created_at DESC, version DESC LIMIT %(limit)s

-- name: promote_lock
-- One promotion at a time.
SELECT pg_advisory_xact_lock(hashtext('deskmate.improve.promote'))
