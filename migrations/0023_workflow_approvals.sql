-- Approval and wait steps (api/workflows/approvals.py, waits.py; docs/workflows.md): a run can wait (for a
-- decision or a time) and end denied; each approval request and its decision is kept: who approved what.

ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_status_check;
ALTER TABLE workflow_runs ADD CONSTRAINT workflow_runs_status_check
    CHECK (status IN ('running', 'waiting', 'succeeded', 'failed', 'denied', 'cancelled'));

CREATE TABLE workflow_approvals (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES workflow_runs ON DELETE CASCADE,
    step_id text NOT NULL,
    approver text NOT NULL CHECK (approver IN ('manager', 'role', 'team')),
    approver_email text,                          -- approver: manager (from the directory)
    approver_user_id bigint REFERENCES users,     -- the manager's deskmate account, when there is one
    role text,                                    -- approver: role
    team text,                                    -- approver: team (its slug)
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'timed_out')),
    link_nonce text NOT NULL,                     -- in every signed link of this request
    expires_at timestamptz NOT NULL,
    decided_by_id bigint REFERENCES users,        -- NULL for a signed link of someone without an account, a timeout
    decided_by text,                              -- the e-mail address of who decided
    decided_via text CHECK (decided_via IN ('api', 'link', 'timeout')),
    comment text,
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, step_id),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE INDEX workflow_approvals_pending_idx ON workflow_approvals (approver_user_id) WHERE status = 'pending';
