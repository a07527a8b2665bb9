-- Core: people, teams, categories, API tokens, tickets with comments and an append-only event log,
-- idempotency keys.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE teams (
    id bigserial PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    name text NOT NULL,
    email text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('employee', 'agent', 'admin', 'service')),
    department text,
    vip boolean NOT NULL DEFAULT false,
    capacity integer NOT NULL DEFAULT 10 CHECK (capacity >= 0),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE team_members (
    team_id bigint NOT NULL REFERENCES teams ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE agent_skills (
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    skill text NOT NULL,
    level smallint NOT NULL CHECK (level BETWEEN 1 AND 5),
    PRIMARY KEY (user_id, skill)
);

CREATE TABLE categories (
    id bigserial PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    default_team_id bigint REFERENCES teams ON DELETE SET NULL
);

CREATE TABLE api_tokens (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    prefix text NOT NULL,
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE TABLE tickets (
    id bigserial PRIMARY KEY,
    number text NOT NULL UNIQUE,
    type text NOT NULL CHECK (type IN ('incident', 'request')),
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    category_id bigint REFERENCES categories ON DELETE SET NULL,
    urgency smallint NOT NULL CHECK (urgency BETWEEN 1 AND 3),
    impact smallint NOT NULL CHECK (impact BETWEEN 1 AND 3),
    priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
    status text NOT NULL DEFAULT 'new' CHECK (
        status IN ('new', 'assigned', 'in_progress', 'pending', 'resolved', 'closed', 'cancelled')),
    requester_id bigint NOT NULL REFERENCES users,
    team_id bigint REFERENCES teams ON DELETE SET NULL,
    assignee_id bigint REFERENCES users ON DELETE SET NULL,
    source_type text NOT NULL DEFAULT 'WEB' CHECK (
        source_type IN ('WEB', 'MOBILE', 'EMAIL', 'GLPI', 'SOLMAN', 'CHATBOT', 'SLACK', 'TEAMS')),
    source_reference text,
    integration_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    closed_at timestamptz,
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(number, '') || ' ' || title), 'A')
        || setweight(to_tsvector('english', description), 'B')) STORED
);
CREATE INDEX tickets_status_idx ON tickets (status, id DESC);
CREATE INDEX tickets_team_idx ON tickets (team_id, id DESC);
CREATE INDEX tickets_assignee_idx ON tickets (assignee_id, id DESC);
CREATE INDEX tickets_requester_idx ON tickets (requester_id, id DESC);
CREATE INDEX tickets_search_idx ON tickets USING gin (search);
CREATE INDEX tickets_source_idx ON tickets (source_type, source_reference) WHERE source_reference IS NOT NULL;

CREATE TABLE ticket_comments (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    author_id bigint REFERENCES users ON DELETE SET NULL,
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    internal boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_comments_ticket_idx ON ticket_comments (ticket_id, id);

-- The audit trail: written in the same transaction as every change, never updated or deleted.
CREATE TABLE ticket_events (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets,
    actor_id bigint REFERENCES users,
    kind text NOT NULL,
    before jsonb,
    after jsonb,
    meta jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_id, id);

CREATE FUNCTION ticket_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ticket_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ticket_events_no_update BEFORE UPDATE OR DELETE ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only();

-- Client-supplied Idempotency-Key: the same key and body returns the first result.
CREATE TABLE idempotency_keys (
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    scope text NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash text NOT NULL,
    resource_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Tickets as the API shows them: with the category's and team's slugs.
CREATE VIEW tickets_v AS
SELECT t.*, c.slug AS category, tm.slug AS team
FROM tickets t
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN teams tm ON tm.id = t.team_id;
