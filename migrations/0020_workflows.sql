-- Workflows: versioned definitions, runs and their step executions (api/workflows, docs/workflows.md);
-- tickets learn how they were resolved ('auto': by a verified workflow run; 'agent': by a person).

ALTER TABLE tickets ADD COLUMN resolution text CHECK (resolution IN ('auto', 'agent'));
-- The view lists the columns it was made with: make it again so it shows the new one.
DROP VIEW tickets_v;
CREATE VIEW tickets_v AS
SELECT t.*, c.slug AS category, tm.slug AS team
FROM tickets t
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id;

-- The system actor of the engine: the author of the runs' tickets and events. No token: nobody logs in as it.
INSERT INTO users (email, name, role) VALUES ('workflows@deskmate.invalid', 'Workflows', 'service')
ON CONFLICT DO NOTHING;

-- One row per workflow name: whether it may start, and the version new runs get.
CREATE TABLE workflows (
    name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    enabled boolean NOT NULL DEFAULT true,
    current_version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every version of every definition ever loaded, by content: a run keeps the one it started with.
CREATE TABLE workflow_definitions (
    id bigserial PRIMARY KEY,
    name text NOT NULL REFERENCES workflows,
    version integer NOT NULL CHECK (version >= 1),
    content_hash text NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version),
    UNIQUE (name, content_hash)
);

CREATE TABLE workflow_runs (
    id bigserial PRIMARY KEY,
    definition_id bigint NOT NULL REFERENCES workflow_definitions,
    workflow text NOT NULL,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
    results jsonb NOT NULL DEFAULT '{}'::jsonb,   -- step id -> its result (never a secret)
    current_step text,                            -- the step that runs next (NULL once the run is over)
    requester_id bigint NOT NULL REFERENCES users,
    ticket_id bigint REFERENCES tickets ON DELETE SET NULL,
    verified boolean,                             -- NULL: no verify step ran
    reason text,                                  -- why it stopped, failed or was cancelled
    compensated boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX workflow_runs_status_idx ON workflow_runs (status, id DESC);
CREATE INDEX workflow_runs_workflow_idx ON workflow_runs (workflow, id DESC);

-- One row per step execution ('do') and per undo ('compensate'); the idempotency key is the run's and the
-- step's, the same on every attempt, and is what the connector honours.
CREATE TABLE workflow_steps (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES workflow_runs ON DELETE CASCADE,
    step_id text NOT NULL,
    phase text NOT NULL DEFAULT 'do' CHECK (phase IN ('do', 'compensate')),
    kind text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    result jsonb,
    error text,
    UNIQUE (run_id, step_id, phase)
);
