-- Approval requests of workflow runs and their decisions; runs that wait (api/workflows/approvals.py, waits.py).

-- name: get_for_step
-- The approval request of a run's step, if it was made, and whether it has expired.
SELECT a.*, a.expires_at <= now() AS expired FROM workflow_approvals a
WHERE a.run_id = %(run_id)s AND a.step_id = %(step_id)s

-- name: insert
-- Records an approval request.
INSERT INTO workflow_approvals (run_id, step_id, approver, approver_email, approver_user_id, role, team, link_nonce,
                                expires_at)
VALUES (%(run_id)s, %(step_id)s, %(approver)s, %(approver_email)s, %(approver_user_id)s, %(role)s, %(team)s,
        %(link_nonce)s, now() + make_interval(secs => %(timeout_s)s))
RETURNING *

-- name: get
-- An approval request with its run's state, its requester and ticket (what an approver is shown).
SELECT a.*, a.expires_at <= now() AS expired, r.workflow, r.status AS run_status, r.current_step,
       u.name AS requester_name, u.email AS requester_email, t.number AS ticket_number, t.title AS ticket_title
FROM workflow_approvals a
JOIN workflow_runs r ON r.id = a.run_id
JOIN users u ON u.id = r.requester_id
LEFT JOIN tickets_v t ON t.id = r.ticket_id
WHERE a.id = %(id)s

-- name: lock
-- An approval request, locked for its decision.
SELECT a.*, a.expires_at <= now() AS expired FROM workflow_approvals a WHERE a.id = %(id)s FOR UPDATE

-- name: decide
-- Records the decision (approved, denied, timed_out) of a pending request.
UPDATE workflow_approvals SET status = %(status)s, decided_by_id = %(decided_by_id)s, decided_by = %(decided_by)s,
    decided_via = %(decided_via)s, comment = %(comment)s, decided_at = now()
WHERE id = %(id)s AND status = 'pending'
RETURNING *

-- name: list_for_run
-- A run's approval requests in the order they were made: who approved what.
SELECT * FROM workflow_approvals WHERE run_id = %(run_id)s ORDER BY id

-- name: list_pending_for
-- The pending requests a person may decide: addressed to them, their role or one of their teams.
SELECT a.*, a.expires_at <= now() AS expired, r.workflow, r.status AS run_status, r.current_step,
       u.name AS requester_name, u.email AS requester_email, t.number AS ticket_number, t.title AS ticket_title
FROM workflow_approvals a
JOIN workflow_runs r ON r.id = a.run_id
JOIN users u ON u.id = r.requester_id
LEFT JOIN tickets_v t ON t.id = r.ticket_id
WHERE a.status = 'pending' AND NOT (a.expires_at <= now())
  AND r.status IN ('running', 'waiting') AND r.current_step = a.step_id AND r.requester_id <> %(user_id)s
  AND (a.approver_user_id = %(user_id)s OR lower(a.approver_email) = lower(%(email)s) OR a.role = %(role)s
       OR a.team IN (SELECT tm.slug FROM teams tm JOIN team_members m ON m.team_id = tm.id
                     WHERE m.user_id = %(user_id)s))
ORDER BY a.id DESC

-- name: in_team
-- Whether the user is a member of the team with this slug.
SELECT 1 FROM team_members m JOIN teams tm ON tm.id = m.team_id WHERE m.user_id = %(user_id)s AND tm.slug = %(team)s

-- name: user_by_email
-- The active account with this e-mail address (an approver from the directory).
SELECT id, email, name FROM users WHERE lower(email) = lower(%(email)s) AND active

-- name: users_with_role
-- The active people with a role (approver: role).
SELECT id, email, name FROM users WHERE role = %(role)s AND active ORDER BY id

-- name: team_members
-- The active members of a team (approver: team).
SELECT u.id, u.email, u.name FROM users u JOIN team_members m ON m.user_id = u.id JOIN teams tm ON tm.id = m.team_id
WHERE tm.slug = %(team)s AND u.active ORDER BY u.id

-- name: set_run_waiting
-- The run waits (for a decision or a time) at its current step.
UPDATE workflow_runs SET status = 'waiting', updated_at = now() WHERE id = %(id)s AND status IN ('running', 'waiting')

-- name: step_started
-- When a run's step first started (a wait step counts from it).
SELECT started_at, now() AS now FROM workflow_steps WHERE run_id = %(run_id)s AND step_id = %(step_id)s AND phase = 'do'

-- name: user_by_id
-- A person's e-mail address and name (the requester whose manager approves).
SELECT id, email, name FROM users WHERE id = %(id)s
