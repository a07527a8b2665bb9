-- Triage steps that failed on an event: recorded (the dead letter), skipped, the ticket's other steps
-- and later events still processed. resolved_at: set when an operator dealt with it.
CREATE TABLE triage_failures (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    event_id bigint NOT NULL REFERENCES ticket_events ON DELETE CASCADE,
    step text NOT NULL,
    error text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (event_id, step)
);
CREATE INDEX triage_failures_open_idx ON triage_failures (created_at) WHERE resolved_at IS NULL;
