-- Classification examples, routing rules, agents with skills/workload/shifts, decisions, feedback.

-- name: delete_stale_descriptions
-- Drops description examples of categories whose name or description changed since.
DELETE FROM classification_examples e
USING categories c
WHERE e.category_id = c.id AND e.source = 'description' AND e.text_hash <> md5(c.name || ': ' || c.description)

-- name: insert_missing_descriptions
-- Adds a description example (embedding to be filled) for every category without a current one.
INSERT INTO classification_examples (category_id, source, text, text_hash)
SELECT c.id, 'description', c.name || ': ' || c.description, md5(c.name || ': ' || c.description)
FROM categories c
ON CONFLICT DO NOTHING

-- name: examples_without_embedding
-- Examples the worker still has to embed.
SELECT id, text FROM classification_examples WHERE embedding IS NULL ORDER BY id LIMIT %(limit)s

-- name: set_example_embedding
-- Stores an example's embedding.
UPDATE classification_examples SET embedding = %(embedding)s::vector WHERE id = %(id)s

-- name: nearest_examples
-- The labelled examples closest to a text's embedding (cosine).
SELECT c.slug AS category, e.source, 1 - (e.embedding <=> %(embedding)s::vector) AS similarity
FROM classification_examples e JOIN categories c ON c.id = e.category_id
WHERE e.embedding IS NOT NULL
ORDER BY e.embedding <=> %(embedding)s::vector
LIMIT %(k)s

-- name: insert_seed_example
-- A labelled example from the demo data or an admin (embedding filled by the worker).
INSERT INTO classification_examples (category_id, source, text, text_hash, created_by)
SELECT id, 'seed', %(text)s, md5(%(text)s), %(created_by)s FROM categories WHERE slug = %(category)s
ON CONFLICT DO NOTHING
RETURNING id

-- name: delete_ticket_example
-- Forgets the example made from a ticket (before it is replaced by a newer correction).
DELETE FROM classification_examples WHERE ticket_id = %(ticket_id)s

-- name: insert_correction_example
-- A ticket whose category an agent corrected becomes a labelled example.
INSERT INTO classification_examples (category_id, source, text, text_hash, ticket_id, embedding, created_by)
VALUES (%(category_id)s, 'correction', %(text)s, md5(%(text)s), %(ticket_id)s, %(embedding)s::vector, %(created_by)s)
ON CONFLICT DO NOTHING
RETURNING id

-- name: intent_category
-- The category a chat intent implies.
SELECT c.slug FROM intent_categories i JOIN categories c ON c.id = i.category_id WHERE i.intent = %(intent)s

-- name: set_intent_category
-- Maps a chat intent to a category.
INSERT INTO intent_categories (intent, category_id)
SELECT %(intent)s, id FROM categories WHERE slug = %(category)s
ON CONFLICT (intent) DO UPDATE SET category_id = EXCLUDED.category_id
RETURNING intent

-- name: requester
-- The requester's department and VIP flag.
SELECT id, name, department, vip FROM users WHERE id = %(id)s

-- name: triage_user
-- The system actor triage writes its audit events as.
SELECT id, email, name FROM users WHERE email = 'triage@deskmate.invalid'

-- name: list_rules
-- Routing rules in the order they are tried.
SELECT r.*, t.slug AS team FROM routing_rules r JOIN teams t ON t.id = r.team_id
WHERE (NOT %(enabled_only)s OR r.enabled)
ORDER BY r.position, r.id

-- name: get_rule
-- One routing rule.
SELECT r.*, t.slug AS team FROM routing_rules r JOIN teams t ON t.id = r.team_id WHERE r.id = %(id)s

-- name: create_rule
-- Inserts a routing rule.
WITH ins AS (
    INSERT INTO routing_rules (name, position, enabled, conditions, team_id, agent_id, skill)
    VALUES (%(name)s, %(position)s, %(enabled)s, %(conditions)s, %(team_id)s, %(agent_id)s, %(skill)s)
    RETURNING *
)
SELECT ins.*, t.slug AS team FROM ins JOIN teams t ON t.id = ins.team_id

-- name: update_rule
-- Replaces a routing rule's fields.
WITH upd AS (
    UPDATE routing_rules SET name = %(name)s, position = %(position)s, enabled = %(enabled)s,
        conditions = %(conditions)s, team_id = %(team_id)s, agent_id = %(agent_id)s, skill = %(skill)s,
        updated_at = now()
    WHERE id = %(id)s
    RETURNING *
)
SELECT upd.*, t.slug AS team FROM upd JOIN teams t ON t.id = upd.team_id

-- name: delete_rule
-- Deletes a routing rule.
DELETE FROM routing_rules WHERE id = %(id)s RETURNING id

-- name: team_by_slug
-- A team by slug.
SELECT id, slug, name FROM teams WHERE slug = %(slug)s

-- name: team_by_id
-- A team by id.
SELECT id, slug, name FROM teams WHERE id = %(id)s

-- name: category_team
-- The default team of a category.
SELECT t.id, t.slug, t.name FROM categories c JOIN teams t ON t.id = c.default_team_id WHERE c.slug = %(category)s

-- name: agents
-- Active agents of a team (or one agent): level in a skill, open tickets weighted by priority
-- (P1 2, P2 1.5, P3 1, P4 0.75, P5 0.5; the ticket being routed not counted), capacity, weekly shifts.
SELECT u.id, u.name, u.capacity,
       coalesce((SELECT s.level FROM agent_skills s WHERE s.user_id = u.id AND s.skill = %(skill)s), 0) AS skill_level,
       (SELECT coalesce(sum(CASE t.priority WHEN 1 THEN 2.0 WHEN 2 THEN 1.5 WHEN 3 THEN 1.0 WHEN 4 THEN 0.75
                                            ELSE 0.5 END), 0)::float
          FROM tickets t
         WHERE t.assignee_id = u.id AND t.status IN ('new', 'assigned', 'in_progress', 'pending')
           AND t.id IS DISTINCT FROM %(ticket_id)s) AS load,
       coalesce((SELECT json_agg(json_build_object('weekday', sh.weekday, 'starts', sh.starts, 'ends', sh.ends,
                                                   'time_zone', sh.time_zone))
                   FROM agent_shifts sh WHERE sh.user_id = u.id), '[]'::json) AS shifts
FROM users u
WHERE u.active AND u.role IN ('agent', 'admin')
  AND (%(team_id)s::bigint IS NULL OR EXISTS (
        SELECT 1 FROM team_members tm WHERE tm.user_id = u.id AND tm.team_id = %(team_id)s))
  AND (%(user_id)s::bigint IS NULL OR u.id = %(user_id)s)
ORDER BY u.id

-- name: ensure_team_state
-- Creates a team's round-robin row when missing.
INSERT INTO routing_team_state (team_id) VALUES (%(team_id)s) ON CONFLICT DO NOTHING

-- name: lock_team_state
-- Locks a team's round-robin row: routing within one team is serialised.
SELECT last_agent_id FROM routing_team_state WHERE team_id = %(team_id)s FOR UPDATE

-- name: read_team_state
-- A team's round-robin position, without locking (dry runs).
SELECT last_agent_id FROM routing_team_state WHERE team_id = %(team_id)s

-- name: set_team_state
-- Moves a team's round-robin position to the agent just chosen.
UPDATE routing_team_state SET last_agent_id = %(agent_id)s, last_routed_at = now() WHERE team_id = %(team_id)s

-- name: insert_decision
-- Stores a routing decision.
INSERT INTO routing_decisions (ticket_id, trigger, actor_id, rule_id, rule_name, team_id, agent_id, confidence,
                               reason, classification, candidates, steps)
VALUES (%(ticket_id)s, %(trigger)s, %(actor_id)s, %(rule_id)s, %(rule_name)s, %(team_id)s, %(agent_id)s,
        %(confidence)s, %(reason)s, %(classification)s, %(candidates)s, %(steps)s)
RETURNING id, created_at

-- name: list_decisions
-- A ticket's routing decisions, newest first.
SELECT d.*, t.slug AS team, u.name AS agent_name
FROM routing_decisions d LEFT JOIN teams t ON t.id = d.team_id LEFT JOIN users u ON u.id = d.agent_id
WHERE d.ticket_id = %(ticket_id)s
ORDER BY d.id DESC

-- name: insert_feedback
-- Records a human change to what triage decided (once per audit event).
INSERT INTO routing_feedback (ticket_id, decision_id, event_id, actor_id, kind, before, after)
VALUES (%(ticket_id)s, %(decision_id)s, %(event_id)s, %(actor_id)s, %(kind)s, %(before)s, %(after)s)
ON CONFLICT (event_id) DO NOTHING

-- name: list_feedback
-- Feedback, newest first, optionally for one ticket, before a feedback id; with what the visibility rule
-- needs of each ticket (requester, team, assignee).
SELECT f.*, json_build_object('requester_id', t.requester_id, 'team_id', t.team_id,
                              'assignee_id', t.assignee_id) AS ticket
FROM routing_feedback f JOIN tickets t ON t.id = f.ticket_id
WHERE (%(ticket_id)s::bigint IS NULL OR f.ticket_id = %(ticket_id)s)
  AND (%(before_id)s::bigint IS NULL OR f.id < %(before_id)s)
ORDER BY f.id DESC LIMIT %(limit)s

-- name: list_shifts
-- An agent's weekly shifts.
SELECT id, user_id, weekday, starts, ends, time_zone FROM agent_shifts WHERE user_id = %(user_id)s
ORDER BY weekday, starts

-- name: delete_shifts
-- Removes an agent's shifts (before replacing them).
DELETE FROM agent_shifts WHERE user_id = %(user_id)s

-- name: insert_shift
-- Adds one weekly shift.
INSERT INTO agent_shifts (user_id, weekday, starts, ends, time_zone)
VALUES (%(user_id)s, %(weekday)s, %(starts)s, %(ends)s, %(time_zone)s)

-- name: category_set_by
-- Who last set a ticket's category (the creator when it was given at creation).
SELECT actor_id FROM ticket_events
WHERE ticket_id = %(ticket_id)s AND after ? 'category_id'
  AND (kind <> 'created' OR after->>'category_id' IS NOT NULL)
ORDER BY id DESC LIMIT 1

-- name: ticket_text
-- A ticket's title and description.
SELECT title, description FROM tickets WHERE id = %(ticket_id)s
