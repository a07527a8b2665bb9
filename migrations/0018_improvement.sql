-- The closed loop (api/improve, docs/improving.md): failed chat turns are clustered daily into proposals
-- (training examples for an intent, or a KB draft) that an admin approves; approved examples go into candidate
-- models, promoted only when the eval sets don't get worse.

-- One clustering pass over the failures of [since, until); the next pass starts where this one ended.
CREATE TABLE improve_runs (
    id bigserial PRIMARY KEY,
    since timestamptz NOT NULL,
    until timestamptz NOT NULL CHECK (until >= since),
    failures integer NOT NULL DEFAULT 0,
    clusters integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX improve_runs_until_idx ON improve_runs (until DESC);

-- A cluster of failed turns and what it proposes. Status: open -> approved | rejected; an approved proposal's
-- examples go into the next candidate model and end in_model (promoted) or not_promoted (the candidate was worse;
-- an admin may edit and approve it again).
CREATE TABLE improve_proposals (
    id bigserial PRIMARY KEY,
    run_id bigint REFERENCES improve_runs ON DELETE SET NULL,
    kind text NOT NULL CHECK (kind IN ('examples', 'kb_draft')),
    intent text CHECK (intent ~ '^[a-z0-9_]+$'),
    title text NOT NULL,
    keywords text[] NOT NULL DEFAULT '{}',
    examples text[] NOT NULL DEFAULT '{}',           -- the proposed training examples (admins edit them)
    texts text[] NOT NULL DEFAULT '{}',              -- the failed turns' texts, most central first (evidence)
    reasons jsonb NOT NULL DEFAULT '{}'::jsonb,      -- failures per reason: fallback, escalation, not_helpful
    basis jsonb NOT NULL DEFAULT '{}'::jsonb,        -- why this intent: the kNN vote or the tickets' category
    message_ids bigint[] NOT NULL DEFAULT '{}',
    answer_ids bigint[] NOT NULL DEFAULT '{}',
    ticket_ids bigint[] NOT NULL DEFAULT '{}',
    size integer NOT NULL CHECK (size > 0),
    centroid vector(384) NOT NULL,
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'approved', 'rejected', 'in_model', 'not_promoted')),
    decided_by bigint REFERENCES users ON DELETE SET NULL,
    decided_at timestamptz,
    note text,
    article_id text REFERENCES kb_articles ON DELETE SET NULL,  -- the draft an approved kb_draft made
    model_version text,                                        -- the candidate that last trained on it
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'examples' OR intent IS NOT NULL)
);
CREATE INDEX improve_proposals_status_idx ON improve_proposals (status, id DESC);

-- Every model the loop trained: its inputs, its comparison with the model it was measured against, and the
-- decision. At most one is promoted (the one Rasa serves; <models_dir>/current.txt names it too).
CREATE TABLE improve_models (
    version text PRIMARY KEY CHECK (version ~ '^[0-9A-Za-z][0-9A-Za-z._-]*$'),
    status text NOT NULL CHECK (status IN ('training', 'evaluating', 'promoted', 'not_promoted', 'retired', 'failed')),
    path text NOT NULL,
    config text NOT NULL,
    proposal_ids bigint[] NOT NULL DEFAULT '{}',
    examples integer NOT NULL DEFAULT 0,
    baseline text,                                   -- the model compared against (a version or a file path)
    comparison jsonb,                                -- rows: set, metric, baseline, candidate, delta, verdict
    decision text,
    error text,
    reload jsonb,                                    -- per Rasa server: loaded or the error
    train_s real,
    requested_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    promoted_at timestamptz,
    promoted_by bigint REFERENCES users ON DELETE SET NULL
);
CREATE UNIQUE INDEX improve_models_one_promoted ON improve_models ((true)) WHERE status = 'promoted';
CREATE INDEX improve_models_created_idx ON improve_models (created_at DESC);
