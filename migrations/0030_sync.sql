-- Sync with external service desks (api/integrations/sync, docs/integrations/glpi.md): connectors, the ticket and
-- comment links, the outbox of ticket events to push, and the conflicts found on the way.

-- The system actor of inbound changes: the author of the events and comments that came from a connector.
INSERT INTO users (email, name, role) VALUES ('sync@deskmate.invalid', 'Sync', 'service') ON CONFLICT DO NOTHING;

CREATE TABLE sync_connectors (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    kind text NOT NULL CHECK (kind IN ('glpi', 'solman')),
    base_url text NOT NULL,
    config jsonb NOT NULL DEFAULT '{}'::jsonb,            -- field maps, entity, poll interval: no secrets
    user_token_encrypted text,                              -- api/crypto.py (ENCRYPTED_COLUMNS)
    app_token_encrypted text,                               -- api/crypto.py (ENCRYPTED_COLUMNS)
    enabled boolean NOT NULL DEFAULT true,
    inbound_cursor text,                                    -- the external system's own clock (GLPI: naive local time)
    last_error text,
    last_polled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One external ticket per deskmate ticket and connector, and the other way round.
CREATE TABLE sync_links (
    id bigserial PRIMARY KEY,
    connector_id bigint NOT NULL REFERENCES sync_connectors ON DELETE CASCADE,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    external_id text NOT NULL,
    remote_date_mod text,                                   -- the external date_mod last seen
    remote_values jsonb NOT NULL DEFAULT '{}'::jsonb,       -- the mapped fields as last seen there
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connector_id, ticket_id),
    UNIQUE (connector_id, external_id)
);

-- Ticket events to push, written by the triage step in the transaction that processes the event.
CREATE TABLE sync_outbox (
    id bigserial PRIMARY KEY,
    connector_id bigint NOT NULL REFERENCES sync_connectors ON DELETE CASCADE,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    event_id bigint NOT NULL REFERENCES ticket_events,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'skipped', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connector_id, event_id)
);
CREATE INDEX sync_outbox_pending_idx ON sync_outbox (connector_id, ticket_id, id) WHERE status = 'pending';
CREATE INDEX sync_outbox_failed_idx ON sync_outbox (connector_id, id) WHERE status = 'failed';

-- Comments and external follow-ups that are the same thing (dedupe, and no echo).
CREATE TABLE sync_comment_links (
    id bigserial PRIMARY KEY,
    connector_id bigint NOT NULL REFERENCES sync_connectors ON DELETE CASCADE,
    comment_id bigint NOT NULL REFERENCES ticket_comments ON DELETE CASCADE,
    external_id text NOT NULL,
    UNIQUE (connector_id, comment_id),
    UNIQUE (connector_id, external_id)
);

-- A local change that would have overwritten a newer external value: the external value was kept.
CREATE TABLE sync_conflicts (
    id bigserial PRIMARY KEY,
    connector_id bigint NOT NULL REFERENCES sync_connectors ON DELETE CASCADE,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    field text NOT NULL,
    local_value jsonb,
    remote_value jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    resolved boolean NOT NULL DEFAULT false
);
CREATE INDEX sync_conflicts_ticket_idx ON sync_conflicts (ticket_id, id);
