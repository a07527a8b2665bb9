-- Workflows: definitions by version, runs, step executions (api/workflows).

-- name: definition_by_hash
-- The stored version of a definition with this content, if any.
SELECT id, version FROM workflow_definitions WHERE name = %(name)s AND content_hash = %(content_hash)s

-- name: upsert_workflow
-- Makes ``version`` the one new runs of ``name`` get (enabled stays as the admins left it).
INSERT INTO workflows (name, current_version) VALUES (%(name)s, %(version)s)
ON CONFLICT (name) DO UPDATE SET current_version = EXCLUDED.current_version, updated_at = now()
WHERE workflows.current_version <> EXCLUDED.current_version

-- name: insert_definition
-- Stores a new version of a definition (the next number for its name).
INSERT INTO workflow_definitions (name, version, content_hash, body)
SELECT %(name)s, coalesce(max(version), 0) + 1, %(content_hash)s, %(body)s
FROM workflow_definitions WHERE name = %(name)s
RETURNING id, version

-- name: lock_workflows
-- Serialises definition syncs (two processes starting at once).
SELECT pg_advisory_xact_lock(hashtext('deskmate.workflows.sync'))

-- name: list_workflows
-- Every workflow with its current version's definition.
SELECT w.name, w.enabled, w.current_version, w.updated_at, d.id AS definition_id, d.content_hash, d.body
FROM workflows w JOIN workflow_definitions d ON d.name = w.name AND d.version = w.current_version
WHERE (%(name)s::text IS NULL OR w.name = %(name)s)
ORDER BY w.name

-- name: set_enabled
-- Enables or disables a workflow; returns its name.
UPDATE workflows SET enabled = %(enabled)s, updated_at = now() WHERE name = %(name)s RETURNING name

-- name: workflow_user
-- The system actor the engine writes tickets and events as.
SELECT id, email, name FROM users WHERE email = 'workflows@deskmate.invalid'

-- name: insert_run
-- Starts a run on a definition version.
INSERT INTO workflow_runs (definition_id, workflow, inputs, current_step, requester_id, conversation_id)
VALUES (%(definition_id)s, %(workflow)s, %(inputs)s, %(current_step)s, %(requester_id)s, %(conversation_id)s)
RETURNING id

-- name: set_run_ticket
-- Links the run to its ticket.
UPDATE workflow_runs SET ticket_id = %(ticket_id)s WHERE id = %(id)s

-- name: lock_run
-- A run and its definition, locked for a change.
SELECT r.*, d.body AS definition, d.version
FROM workflow_runs r JOIN workflow_definitions d ON d.id = r.definition_id
WHERE r.id = %(id)s FOR UPDATE OF r

-- name: get_run
-- A run with its definition's version.
SELECT r.*, d.version FROM workflow_runs r JOIN workflow_definitions d ON d.id = r.definition_id WHERE r.id = %(id)s

-- name: list_runs
-- Runs, newest first, optionally of one workflow or status, before a cursor.
SELECT r.*, d.version FROM workflow_runs r JOIN workflow_definitions d ON d.id = r.definition_id
WHERE (%(workflow)s::text IS NULL OR r.workflow = %(workflow)s)
  AND (%(status)s::text IS NULL OR r.status = %(status)s)
  AND (%(before_id)s::bigint IS NULL OR r.id < %(before_id)s)
ORDER BY r.id DESC
LIMIT %(limit)s

-- name: list_ticket_runs
-- The runs linked to a ticket, oldest first.
SELECT id FROM workflow_runs WHERE ticket_id = %(ticket_id)s ORDER BY id

-- name: advance_run
-- Stores a step's result in the run and the step that comes next (a waiting run runs again).
UPDATE workflow_runs SET status = 'running', results = results || jsonb_build_object(%(step_id)s::text, %(result)s::jsonb),
    current_step = %(current_step)s, verified = coalesce(%(verified)s, verified),
    reason = coalesce(%(reason)s, reason), updated_at = clock_timestamp()
WHERE id = %(id)s

-- name: finish_run
-- Ends a run: succeeded, failed or cancelled, with its reason.
UPDATE workflow_runs SET status = %(status)s, reason = %(reason)s, current_step = NULL,
    compensated = compensated OR %(compensated)s, finished_at = clock_timestamp(), updated_at = clock_timestamp()
WHERE id = %(id)s

-- name: restart_run
-- Puts a failed run back to running at the step that failed.
UPDATE workflow_runs SET status = 'running', reason = NULL, current_step = %(current_step)s, finished_at = NULL,
    updated_at = now()
WHERE id = %(id)s

-- name: claim_step
-- Starts (or starts again) a step execution; returns it with the attempt it is on and the seconds since its first
-- attempt started (waited_s: a step that waits, e.g. for a step-up pass, has waited that long). Step times are
-- clock_timestamp(): a step executed inside the transaction that records it would get that transaction's start.
INSERT INTO workflow_steps (run_id, step_id, phase, kind, idempotency_key, attempts, started_at)
VALUES (%(run_id)s, %(step_id)s, %(phase)s, %(kind)s, %(idempotency_key)s, 1, clock_timestamp())
ON CONFLICT (run_id, step_id, phase) DO UPDATE
SET attempts = workflow_steps.attempts + 1,
    status = CASE WHEN workflow_steps.status = 'succeeded' THEN 'succeeded' ELSE 'running' END
RETURNING *, extract(epoch FROM clock_timestamp() - started_at)::float8 AS waited_s

-- name: finish_step
-- Records how a step execution ended.
UPDATE workflow_steps SET status = %(status)s, result = %(result)s, error = %(error)s, finished_at = clock_timestamp()
WHERE run_id = %(run_id)s AND step_id = %(step_id)s AND phase = %(phase)s

-- name: note_step_error
-- Records the error of an attempt that will be retried.
UPDATE workflow_steps SET error = %(error)s WHERE run_id = %(run_id)s AND step_id = %(step_id)s AND phase = 'do'

-- name: list_steps
-- A run's step executions in the order they started.
SELECT * FROM workflow_steps WHERE run_id = %(run_id)s ORDER BY id

-- name: requester_email
-- The e-mail address of a run's requester (the directory account a step-up check may act on must be theirs).
SELECT email FROM users WHERE id = %(user_id)s

-- name: get_own_run
-- A run of this requester, with its ticket's number, whether it waits at a step-up step, who it waits for (the
-- pending approval's person, else its team or role), and where a one-time password went (masked; a
-- set_one_time_password step's result).
SELECT r.id, r.workflow, r.status, r.current_step, r.verified, r.ticket_id, t.number AS ticket_number,
       r.created_at, r.finished_at,
       (SELECT coalesce(au.name, a.approver_email, a.team, a.role) FROM workflow_approvals a
        LEFT JOIN users au ON au.id = a.approver_user_id
        WHERE a.run_id = r.id AND a.status = 'pending' ORDER BY a.id DESC LIMIT 1) AS approver,
       coalesce((SELECT s->>'kind' = 'step_up' FROM jsonb_array_elements(d.body->'steps') s
                 WHERE s->>'id' = r.current_step), false) AND r.status = 'running' AS waiting_for_step_up,
       (SELECT v->>'delivered_to' FROM jsonb_each(r.results) AS e(k, v)
        WHERE jsonb_typeof(v) = 'object' AND v ? 'delivered_to' LIMIT 1) AS delivered_to
FROM workflow_runs r JOIN workflow_definitions d ON d.id = r.definition_id
LEFT JOIN tickets_v t ON t.id = r.ticket_id
WHERE r.id = %(id)s AND r.requester_id = %(requester_id)s

-- name: runs_at_step_up
-- The running runs started from a conversation that wait at a step_up step, locked (skipped when busy).
SELECT r.id, r.current_step
FROM workflow_runs r JOIN workflow_definitions d ON d.id = r.definition_id
WHERE r.conversation_id = %(conversation_id)s AND r.status = 'running'
  AND EXISTS (SELECT 1 FROM jsonb_array_elements(d.body->'steps') s
              WHERE s->>'id' = r.current_step AND s->>'kind' = 'step_up')
FOR UPDATE OF r SKIP LOCKED

-- name: cancel_later_jobs
-- Cancels (and deletes) the jobs of a run's lock that wait for a later time: a step-up poll, when the pass woke the run.
SELECT procrastinate_cancel_job_v1(id, false, true) FROM procrastinate_jobs
WHERE lock = %(lock)s AND status = 'todo' AND scheduled_at > now()

-- name: team_names
-- The names of the teams with these slugs (the software catalogue names who fulfils an item).
SELECT slug, name FROM teams WHERE slug = ANY(%(slugs)s::text[])
