-- The demo history (api/dev/history.py): Python plans each ticket and conversation and COPYs the plan into two
-- temporary tables; these statements write, set-based, the rows the services would have written for them.
-- Nothing here queues a job, an alert, a survey mail or a sync item.

-- name: create_staging
-- The plan of one chunk: a row per ticket and per conversation (timestamps NULL: did not happen, or not yet).
CREATE TEMP TABLE IF NOT EXISTS history_tickets (
    id bigint PRIMARY KEY, type text, title text, description text, category_id bigint, team_id bigint,
    first_team_id bigint, source_type text, source_reference text, requester_id bigint, creator_id bigint,
    assignee_id bigint, resolver_id bigint, urgency smallint, impact smallint, priority smallint, status text,
    resolution text, conversation_id uuid, workflow text, workflow_run_id bigint,
    created_at timestamptz, moved_at timestamptz, assigned_at timestamptz, started_at timestamptz,
    pending_at timestamptz, resumed_at timestamptz, first_resolved_at timestamptz, reopened_at timestamptz,
    resolved_at timestamptz, closed_at timestamptz,
    policy_id bigint, calendar_id bigint, respond_target_s integer, resolve_target_s integer, warn_ratio real,
    paused_business_s double precision, respond_due_at timestamptz, resolve_due_at timestamptz,
    respond_warn_at timestamptz, resolve_warn_at timestamptz, respond_warned_at timestamptz,
    respond_breached_at timestamptz, resolve_warned_at timestamptz, resolve_breached_at timestamptz,
    csat_by text, csat_channel text, csat_asked_at timestamptz, csat_answered_at timestamptz, csat_score smallint
);
CREATE TEMP TABLE IF NOT EXISTS history_conversations (
    id uuid PRIMARY KEY, employee_id bigint, channel text, client text, created_at timestamptz, messages integer,
    outcome text, intent text, confidence real, opening text, ticket_id bigint, ticket_number text,
    answer_id bigint, answer_confident boolean, answer_helpful boolean, article_id text,
    workflow text, workflow_run_id bigint, definition_id bigint
)

-- name: clear_staging
-- Empties the staging tables for the next chunk.
TRUNCATE history_tickets, history_conversations

-- name: reserve_ids
-- Takes the next %(n)s ids of a table's sequence at once; returns the first.
SELECT setval(pg_get_serial_sequence(%(table)s, 'id'), nextval(pg_get_serial_sequence(%(table)s, 'id')) + %(n)s - 1)
       - %(n)s + 1 AS first

-- name: insert_tickets
-- The tickets as they are now, numbered like the ticket service numbers them.
INSERT INTO tickets (id, number, type, title, description, category_id, urgency, impact, priority, status,
                     requester_id, team_id, assignee_id, source_type, source_reference, integration_metadata,
                     version, created_at, updated_at, resolved_at, closed_at, respond_due_at, resolve_due_at, resolution)
SELECT h.id, CASE WHEN h.type = 'request' THEN 'REQ-' ELSE 'INC-' END || lpad(h.id::text, greatest(6, length(h.id::text)), '0'), h.type, h.title,
       h.description, h.category_id, h.urgency, h.impact, h.priority, h.status, h.requester_id, h.team_id, h.assignee_id,
       h.source_type, h.source_reference,
       CASE WHEN h.workflow IS NOT NULL THEN jsonb_build_object('workflow', h.workflow, 'workflow_run_id', h.workflow_run_id)
            WHEN h.conversation_id IS NOT NULL THEN jsonb_build_object('conversation_id', h.conversation_id)
            ELSE '{}'::jsonb END,
       1 + num_nonnulls(h.moved_at, h.assigned_at, h.started_at, h.pending_at, h.resumed_at, h.first_resolved_at,
                        h.reopened_at, h.resolved_at, h.closed_at),
       h.created_at, greatest(h.created_at, h.assigned_at, h.started_at, h.pending_at, h.resumed_at, h.resolved_at,
                              h.closed_at),
       h.resolved_at, h.closed_at, h.respond_due_at, h.resolve_due_at, h.resolution
FROM history_tickets h

-- name: insert_ticket_events
-- Each ticket's audit trail, in the shapes the ticket service and the SLA clock write, oldest first.
INSERT INTO ticket_events (ticket_id, actor_id, kind, before, after, meta, created_at)
SELECT h.id, e.actor_id, e.kind, e.before, e.after, '{}'::jsonb, e.at
FROM history_tickets h
CROSS JOIN LATERAL (VALUES
    (h.created_at, h.creator_id, 'created', NULL::jsonb,
     jsonb_build_object('id', h.id, 'type', h.type, 'title', h.title, 'status', 'new', 'priority', h.priority,
                        'category_id', h.category_id, 'team_id', h.first_team_id, 'requester_id', h.requester_id,
                        'source_type', h.source_type, 'created_at', h.created_at)),
    (h.moved_at, h.assignee_id, 'updated', jsonb_build_object('team_id', h.first_team_id),
     jsonb_build_object('team_id', h.team_id)),
    (h.assigned_at, h.assignee_id, 'assigned', jsonb_build_object('assignee_id', NULL, 'status', 'new'),
     jsonb_build_object('assignee_id', h.assignee_id, 'status', 'assigned')),
    (h.started_at, h.assignee_id, 'status_changed', '{"status": "assigned"}'::jsonb, '{"status": "in_progress"}'::jsonb),
    (h.pending_at, h.assignee_id, 'status_changed', '{"status": "in_progress"}'::jsonb, '{"status": "pending"}'::jsonb),
    (h.resumed_at, h.requester_id, 'status_changed', '{"status": "pending"}'::jsonb,
     '{"status": "in_progress"}'::jsonb),
    (h.first_resolved_at, h.resolver_id, 'status_changed',
     jsonb_build_object('status', CASE WHEN h.workflow IS NULL THEN 'in_progress' ELSE 'new' END),
     jsonb_build_object('status', 'resolved', 'resolved_at', h.first_resolved_at, 'resolution', h.resolution)),
    (h.reopened_at, h.requester_id, 'status_changed',
     jsonb_build_object('status', 'resolved', 'resolved_at', h.first_resolved_at, 'resolution', h.resolution),
     '{"status": "in_progress", "resolved_at": null, "resolution": null}'::jsonb),
    (CASE WHEN h.reopened_at IS NOT NULL THEN h.resolved_at END, h.resolver_id, 'status_changed',
     '{"status": "in_progress"}'::jsonb,
     jsonb_build_object('status', 'resolved', 'resolved_at', h.resolved_at, 'resolution', h.resolution)),
    (h.closed_at, NULL::bigint, 'status_changed', '{"status": "resolved"}'::jsonb,
     jsonb_build_object('status', 'closed', 'closed_at', h.closed_at)),
    (h.respond_warned_at, NULL::bigint, 'sla_warning', NULL::jsonb,
     jsonb_build_object('target', 'respond', 'due_at', h.respond_due_at)),
    (h.respond_breached_at, NULL::bigint, 'sla_breach', NULL::jsonb,
     jsonb_build_object('target', 'respond', 'due_at', h.respond_due_at)),
    (h.resolve_warned_at, NULL::bigint, 'sla_warning', NULL::jsonb,
     jsonb_build_object('target', 'resolve', 'due_at', h.resolve_due_at)),
    (h.resolve_breached_at, NULL::bigint, 'sla_breach', NULL::jsonb,
     jsonb_build_object('target', 'resolve', 'due_at', h.resolve_due_at))
) AS e(at, actor_id, kind, before, after)
WHERE e.at IS NOT NULL
ORDER BY e.at, h.id

-- name: insert_ticket_sla
-- The SLA clocks, every threshold that has passed already marked as raised (the sweeper has nothing to catch up).
INSERT INTO ticket_sla (ticket_id, policy_id, calendar_id, started_at, respond_target_s, resolve_target_s, warn_ratio,
                        paused_at, paused_business_s, responded_at, resolved_at, respond_warn_at, resolve_warn_at,
                        respond_warned_at, respond_breached_at, resolve_warned_at, resolve_breached_at, generation,
                        updated_at)
SELECT id, policy_id, calendar_id, created_at, respond_target_s, resolve_target_s, warn_ratio,
       coalesce(resolved_at, CASE WHEN status = 'pending' THEN pending_at END), paused_business_s,
       assigned_at, resolved_at, respond_warn_at, resolve_warn_at, respond_warned_at, respond_breached_at,
       resolve_warned_at, resolve_breached_at, 1, greatest(created_at, assigned_at, pending_at, resolved_at)
FROM history_tickets WHERE policy_id IS NOT NULL

-- name: insert_conversations
-- The conversations, their last message when they ended.
INSERT INTO chat_conversations (id, employee_id, channel, client, created_at, last_message_at)
SELECT id, employee_id, channel, client, created_at, created_at + (messages * interval '40 seconds')
FROM history_conversations

-- name: insert_kb_answers
-- The knowledge answers the bot gave, with the employee's verdict when they gave one.
INSERT INTO kb_answers (id, user_id, question, mode, confident, best_similarity, article_ids, answer, helpful,
                        feedback_at, created_at)
SELECT answer_id, employee_id, opening, 'extractive', answer_confident,
       CASE WHEN answer_confident THEN 0.74 ELSE 0.49 END, CASE WHEN article_id IS NULL THEN '{}' ELSE ARRAY[article_id] END,
       %(answer)s, answer_helpful, CASE WHEN answer_helpful IS NOT NULL THEN created_at + interval '2 minutes' END,
       created_at + interval '10 seconds'
FROM history_conversations WHERE answer_id IS NOT NULL

-- name: insert_kb_feedback
-- The votes on the cited article that came with those verdicts.
INSERT INTO kb_feedback (article_id, answer_id, user_id, helpful, created_at)
SELECT article_id, answer_id, employee_id, answer_helpful, created_at + interval '2 minutes'
FROM history_conversations WHERE answer_helpful IS NOT NULL AND article_id IS NOT NULL

-- name: insert_messages
-- The turns: the employee and the bot in turn, 40 seconds apart; the first user turn carries the conversation's
-- intent, the bot's last turn its outcome (the answer with its buttons, the ticket, the workflow's result); when
-- the employee has the last word, it is a thanks.
INSERT INTO chat_messages (conversation_id, direction, text, payload, intent, confidence, ticket_id, created_at)
SELECT c.id, CASE WHEN n %% 2 = 1 THEN 'user' ELSE 'bot' END,
       CASE WHEN n = 1 THEN c.opening
            WHEN n = c.messages AND n %% 2 = 1 THEN %(thanks)s
            WHEN n %% 2 = 1 THEN (%(follow_ups)s::text[])[1 + (abs(hashtext(c.id::text)) + n) %% cardinality(%(follow_ups)s::text[])]
            WHEN n < c.messages - c.messages %% 2 THEN (%(asks)s::text[])[1 + (n / 2 - 1) %% cardinality(%(asks)s::text[])]
            WHEN c.outcome = 'ticket' THEN %(ticket)s || ' (' || c.ticket_number || ')'
            WHEN c.outcome = 'workflow' THEN %(workflow)s
            WHEN c.answer_id IS NOT NULL THEN %(answer)s
            ELSE %(open)s END,
       CASE WHEN n %% 2 = 0 AND n = c.messages - c.messages %% 2 AND c.answer_id IS NOT NULL
            THEN jsonb_build_object('buttons', jsonb_build_array(
                jsonb_build_object('title', 'That solved it', 'payload', 'deskmate:kb_helpful:' || c.answer_id),
                '{"title": "Open a ticket", "payload": "deskmate:open_ticket"}'::jsonb))
            ELSE '{}'::jsonb END,
       CASE WHEN n = 1 THEN c.intent
            WHEN n = c.messages AND n %% 2 = 1 THEN %(thanks_intent)s
            WHEN n %% 2 = 1 THEN (%(follow_up_intents)s::text[])[1 + (abs(hashtext(c.id::text)) + n) %% cardinality(%(follow_up_intents)s::text[])] END,
       CASE WHEN n = 1 THEN c.confidence WHEN n %% 2 = 1 THEN 0.88 END,
       CASE WHEN n %% 2 = 0 AND n = c.messages - c.messages %% 2 AND c.outcome = 'ticket' THEN c.ticket_id END,
       c.created_at + (n - 1) * interval '40 seconds'
FROM history_conversations c CROSS JOIN LATERAL generate_series(1, c.messages) AS n
ORDER BY c.created_at, c.id, n

-- name: insert_chat_tickets
-- The tickets the conversations opened.
INSERT INTO chat_tickets (conversation_id, key, ticket_id, created_at)
SELECT id, 'history', ticket_id, created_at + interval '80 seconds'
FROM history_conversations WHERE outcome = 'ticket'

-- name: insert_workflow_runs
-- The workflow runs that solved a conversation: succeeded, and verified by the workflow's own check.
INSERT INTO workflow_runs (id, definition_id, workflow, status, inputs, results, requester_id, ticket_id, verified,
                           created_at, updated_at, finished_at, conversation_id)
SELECT workflow_run_id, definition_id, workflow, 'succeeded',
       jsonb_build_object('username', split_part(u.email, '@', 1)), '{}'::jsonb, employee_id, ticket_id, true,
       c.created_at + interval '80 seconds', c.created_at + interval '3 minutes', c.created_at + interval '3 minutes', c.id
FROM history_conversations c JOIN users u ON u.id = c.employee_id
WHERE c.outcome = 'workflow'

-- name: insert_surveys
-- The satisfaction surveys of the resolved tickets: asked once, answered by some (api/csat).
INSERT INTO csat_surveys (ticket_id, requester_id, resolved_by, resolver_id, status, channel, conversation_id,
                          created_at, asked_at, answered_at, score)
SELECT id, requester_id, csat_by, resolver_id, 'sent', csat_channel, conversation_id, first_resolved_at,
       csat_asked_at, csat_answered_at, csat_score
FROM history_tickets WHERE csat_asked_at IS NOT NULL

-- name: article_views
-- How often the history's answers cited each article (kb_index counts them as views: it writes kb_articles).
SELECT article_id, count(*) AS n FROM history_conversations WHERE article_id IS NOT NULL GROUP BY 1

-- name: demo_people
-- The demo organisation as the history needs it: employees, agents per team, the workflows' system user.
SELECT u.id, u.email, u.role, coalesce(array_agg(tm.team_id) FILTER (WHERE tm.team_id IS NOT NULL), '{}') AS team_ids
FROM users u LEFT JOIN team_members tm ON tm.user_id = u.id
WHERE u.active AND u.role IN ('employee', 'agent', 'admin')
GROUP BY u.id ORDER BY u.id

-- name: demo_categories
-- Every category with its default team.
SELECT id, slug, default_team_id FROM categories ORDER BY slug

-- name: demo_policies
-- The general SLA policies and the teams' own.
SELECT id, priority, team_id, respond_minutes, resolve_minutes, warn_ratio FROM sla_policies

-- name: demo_articles
-- Published employee articles: what the bot's answers cite.
SELECT id, category FROM kb_articles WHERE status = 'published' AND audience = 'employee' ORDER BY id

-- name: demo_workflows
-- The current definitions of the workflows the bot runs for the history.
SELECT w.name, d.id AS definition_id
FROM workflows w JOIN workflow_definitions d ON d.name = w.name AND d.version = w.current_version
WHERE w.name = ANY(%(names)s)

-- name: workflow_user
-- The system user the workflow engine writes tickets as (it resolves the bot's tickets).
SELECT id FROM users WHERE email = 'workflows@deskmate.invalid'

-- name: db_now
-- The database's clock.
SELECT now() AS now
