-- Triage: classification examples, routing rules and decisions, agent shifts, SLA calendars, policies
-- and clocks, alert rules with their firings, deliveries and attempts, in-app notifications.

-- The system actor of triage: the author of its audit events. Role 'service' and no token: nobody logs in as it.
INSERT INTO users (email, name, role) VALUES ('triage@deskmate.invalid', 'Triage', 'service') ON CONFLICT DO NOTHING;

-- A phone number for SMS alerts (E.164).
ALTER TABLE users ADD COLUMN phone text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$');

-- ---------------------------------------------------------------- classification

-- Texts labelled with a category: category descriptions, seeded examples, and tickets whose category
-- an agent corrected. The embedding is filled in by the worker (NULL until then).
CREATE TABLE classification_examples (
    id bigserial PRIMARY KEY,
    category_id bigint NOT NULL REFERENCES categories ON DELETE CASCADE,
    source text NOT NULL CHECK (source IN ('description', 'seed', 'correction')),
    text text NOT NULL CHECK (length(text) BETWEEN 1 AND 20000),
    text_hash text NOT NULL,
    ticket_id bigint UNIQUE REFERENCES tickets ON DELETE CASCADE,
    embedding vector(384),
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (category_id, source, text_hash)
);
CREATE INDEX classification_examples_embedding_idx ON classification_examples
    USING hnsw (embedding vector_cosine_ops);
CREATE INDEX classification_examples_missing_idx ON classification_examples (id) WHERE embedding IS NULL;

-- Chat intents (Rasa) that imply a category.
CREATE TABLE intent_categories (
    intent text PRIMARY KEY CHECK (intent ~ '^[a-z0-9_]+$'),
    category_id bigint NOT NULL REFERENCES categories ON DELETE CASCADE
);

-- ---------------------------------------------------------------- routing

CREATE TABLE routing_rules (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    position integer NOT NULL DEFAULT 100,
    enabled boolean NOT NULL DEFAULT true,
    conditions jsonb NOT NULL DEFAULT '{}'::jsonb,
    team_id bigint NOT NULL REFERENCES teams ON DELETE CASCADE,
    agent_id bigint REFERENCES users ON DELETE SET NULL,
    skill text CHECK (skill ~ '^[a-z0-9][a-z0-9_-]*$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_rules_order_idx ON routing_rules (position, id) WHERE enabled;

-- Weekly working hours of agents in their time zone; an agent without rows is always on shift.
-- ends <= starts means the shift runs past midnight.
CREATE TABLE agent_shifts (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),  -- 0 = Monday
    starts time NOT NULL,
    ends time NOT NULL,
    time_zone text NOT NULL DEFAULT 'UTC'
);
CREATE INDEX agent_shifts_user_idx ON agent_shifts (user_id);

-- Every routing decision, applied or not, with the candidates, the steps and the reason.
CREATE TABLE routing_decisions (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    trigger text NOT NULL CHECK (trigger IN ('auto', 'manual')),
    actor_id bigint REFERENCES users ON DELETE SET NULL,
    rule_id bigint REFERENCES routing_rules ON DELETE SET NULL,
    rule_name text,
    team_id bigint REFERENCES teams ON DELETE SET NULL,
    agent_id bigint REFERENCES users ON DELETE SET NULL,
    confidence real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    reason text NOT NULL,
    classification jsonb NOT NULL,
    candidates jsonb NOT NULL,
    steps jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_decisions_ticket_idx ON routing_decisions (ticket_id, id DESC);

-- Round-robin position per team; its row lock also serialises assignments within a team.
CREATE TABLE routing_team_state (
    team_id bigint PRIMARY KEY REFERENCES teams ON DELETE CASCADE,
    last_agent_id bigint REFERENCES users ON DELETE SET NULL,
    last_routed_at timestamptz
);

-- What people changed after triage: reassignments and category corrections.
CREATE TABLE routing_feedback (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    decision_id bigint REFERENCES routing_decisions ON DELETE SET NULL,
    event_id bigint NOT NULL UNIQUE REFERENCES ticket_events,
    actor_id bigint REFERENCES users ON DELETE SET NULL,
    kind text NOT NULL CHECK (kind IN ('reassigned', 'recategorised')),
    before jsonb NOT NULL,
    after jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_feedback_ticket_idx ON routing_feedback (ticket_id);

-- How far the triage worker has processed each ticket's events (exactly-once per event).
CREATE TABLE triage_cursors (
    ticket_id bigint PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,
    last_event_id bigint NOT NULL
);

-- ---------------------------------------------------------------- SLAs

-- Business hours: {"mon": [["09:00", "17:00"]], ..., "sun": []}; "24:00" ends a day.
CREATE TABLE business_calendars (
    id bigserial PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    name text NOT NULL,
    time_zone text NOT NULL,
    hours jsonb NOT NULL,
    is_default boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX business_calendars_default_key ON business_calendars (is_default) WHERE is_default;

CREATE TABLE calendar_holidays (
    calendar_id bigint NOT NULL REFERENCES business_calendars ON DELETE CASCADE,
    day date NOT NULL,
    name text NOT NULL DEFAULT '',
    PRIMARY KEY (calendar_id, day)
);

CREATE TABLE team_calendars (
    team_id bigint PRIMARY KEY REFERENCES teams ON DELETE CASCADE,
    calendar_id bigint NOT NULL REFERENCES business_calendars ON DELETE CASCADE
);

-- Targets per priority, optionally for one team (a team's policy wins over the general one).
CREATE TABLE sla_policies (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
    team_id bigint REFERENCES teams ON DELETE CASCADE,
    respond_minutes integer NOT NULL CHECK (respond_minutes > 0),
    resolve_minutes integer NOT NULL CHECK (resolve_minutes > 0),
    warn_ratio real NOT NULL DEFAULT 0.8 CHECK (warn_ratio > 0 AND warn_ratio < 1)
);
CREATE UNIQUE INDEX sla_policies_general_key ON sla_policies (priority) WHERE team_id IS NULL;
CREATE UNIQUE INDEX sla_policies_team_key ON sla_policies (priority, team_id) WHERE team_id IS NOT NULL;

ALTER TABLE tickets ADD COLUMN respond_due_at timestamptz, ADD COLUMN resolve_due_at timestamptz;

-- A ticket's SLA clock. Targets are in business seconds; time spent pending (or resolved, until a
-- reopen) is added back as paused business seconds. generation changes whenever the due times do,
-- so timer jobs scheduled for older due times do nothing.
CREATE TABLE ticket_sla (
    ticket_id bigint PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,
    policy_id bigint REFERENCES sla_policies ON DELETE SET NULL,
    calendar_id bigint REFERENCES business_calendars ON DELETE SET NULL,
    started_at timestamptz NOT NULL,
    respond_target_s integer NOT NULL,
    resolve_target_s integer NOT NULL,
    warn_ratio real NOT NULL,
    paused_at timestamptz,
    paused_business_s double precision NOT NULL DEFAULT 0,
    responded_at timestamptz,
    resolved_at timestamptz,
    respond_warn_at timestamptz,
    resolve_warn_at timestamptz,
    respond_warned_at timestamptz,
    respond_breached_at timestamptz,
    resolve_warned_at timestamptz,
    resolve_breached_at timestamptz,
    generation integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_sla_running_idx ON ticket_sla (ticket_id) WHERE resolved_at IS NULL AND paused_at IS NULL;

-- Tickets as the API shows them (re-created so that it carries the due times).
DROP VIEW tickets_v;
CREATE VIEW tickets_v AS
SELECT t.*, c.slug AS category, tm.slug AS team
FROM tickets t
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id;

-- ---------------------------------------------------------------- alerts

-- channels: [{"channel": "EMAIL", "recipients": [{"kind": "team"}], "template": {"subject": "…", "body": "…"}}, …]
CREATE TABLE alert_rules (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    enabled boolean NOT NULL DEFAULT true,
    events text[] NOT NULL CHECK (cardinality(events) > 0),
    conditions jsonb NOT NULL DEFAULT '{}'::jsonb,
    channels jsonb NOT NULL,
    dedup_window_s integer CHECK (dedup_window_s >= 0),
    secret_encrypted text,  -- Fernet token (api/crypto.py) of the webhook signing secret
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per rule that matched an event: fired, or suppressed as a duplicate within the window.
CREATE TABLE alert_firings (
    id bigserial PRIMARY KEY,
    rule_id bigint NOT NULL REFERENCES alert_rules ON DELETE CASCADE,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    event_id bigint NOT NULL REFERENCES ticket_events,
    event_kind text NOT NULL,
    dedup_key text NOT NULL,
    status text NOT NULL CHECK (status IN ('fired', 'suppressed', 'no_recipients')),
    suppressed_by bigint REFERENCES alert_firings ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (rule_id, event_id, event_kind)
);
CREATE INDEX alert_firings_dedup_idx ON alert_firings (rule_id, ticket_id, dedup_key, created_at DESC)
    WHERE status = 'fired';
CREATE INDEX alert_firings_ticket_idx ON alert_firings (ticket_id, id DESC);

-- One message to one recipient on one channel. idempotency_key travels with every attempt
-- (webhook header, e-mail Message-ID) so a retry is recognisable; external_id is the receiver's id.
CREATE TABLE alert_deliveries (
    id bigserial PRIMARY KEY,
    firing_id bigint NOT NULL REFERENCES alert_firings ON DELETE CASCADE,
    rule_id bigint NOT NULL REFERENCES alert_rules ON DELETE CASCADE,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    channel text NOT NULL CHECK (channel IN ('EMAIL', 'SMS', 'WEBHOOK', 'IN_APP')),
    recipient text NOT NULL,
    user_id bigint REFERENCES users ON DELETE SET NULL,
    subject text,
    body text NOT NULL,
    payload jsonb,
    idempotency_key text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'pending' CHECK (
        status IN ('pending', 'sending', 'retrying', 'sent', 'failed', 'dead', 'skipped')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    external_id text,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX alert_deliveries_firing_idx ON alert_deliveries (firing_id);
CREATE INDEX alert_deliveries_status_idx ON alert_deliveries (status, id DESC);

CREATE TABLE alert_attempts (
    id bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES alert_deliveries ON DELETE CASCADE,
    attempt integer NOT NULL,
    status text NOT NULL CHECK (status IN ('started', 'ok', 'duplicate', 'error', 'interrupted')),
    error text,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (delivery_id, attempt)
);

CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    ticket_id bigint REFERENCES tickets ON DELETE CASCADE,
    delivery_id bigint UNIQUE REFERENCES alert_deliveries ON DELETE SET NULL,
    title text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
