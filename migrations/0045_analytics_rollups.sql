-- Analytics rollups (api/analytics/rollups.py, docs/analytics.md "Rollups"): what backlog, MTTA and MTTR would
-- otherwise compute from every ticket and status change on each request (7.7 s for the backlog at 1,000,000
-- tickets). `deskmate analytics refresh` and the worker's `analytics.refresh` (every 15 minutes) fill them; the
-- metrics read them for the tickets rolled up and unchanged since, and compute the others live.

-- Per ticket, as of its last roll-up: its team and category then (no foreign keys: backlog_daily is grouped by
-- them, and a deleted team must not move rows), its times, the business seconds to the first response and to
-- the resolution in its team's calendar (api/sla/calendar.py), and whether it was never reopened, pending or moved
-- to another team (first-contact resolution). calendar_hash: the fingerprint of the calendar the seconds were
-- counted in (a calendar edited since: counted again). rolled_upto: the last ticket_events id read for it.
CREATE TABLE ticket_durations (
    ticket_id bigint PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,
    team_id bigint,
    category_id bigint,
    created_at timestamptz NOT NULL,
    responded_at timestamptz,
    resolved_at timestamptz,
    respond_business_s double precision,
    resolve_business_s double precision,
    first_contact boolean NOT NULL,
    calendar_hash text NOT NULL,
    rolled_upto bigint NOT NULL
);
CREATE INDEX ticket_durations_created_idx ON ticket_durations (created_at);
CREATE INDEX ticket_durations_resolved_idx ON ticket_durations (resolved_at) WHERE resolved_at IS NOT NULL;

-- The backlog's changes per UTC day, team and category (the ticket's, as in ticket_durations): +1 on the day a
-- ticket was created, +1/-1 on each status change into/out of the open set. The backlog at a day's end is the sum
-- of every row up to that day.
CREATE TABLE backlog_daily (
    day date NOT NULL,
    team_id bigint,
    category_id bigint,
    open_delta bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (day, team_id, category_id)
);

-- How far the rollups go: every ticket up to ticket_watermark and every event up to event_watermark is in them.
CREATE TABLE analytics_rollup_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    ticket_watermark bigint NOT NULL DEFAULT 0,
    event_watermark bigint NOT NULL DEFAULT 0,
    refreshed_at timestamptz
);
INSERT INTO analytics_rollup_state DEFAULT VALUES;

-- The reopen rate (queries.sql's reopen_rate, still live) at scale: the resolutions of the period without reading
-- every status change of it, and "reopened after" without reading every event of each ticket (100,000 tickets:
-- 72 -> 20 ms in the database).
CREATE INDEX ticket_events_resolved_idx ON ticket_events (created_at) INCLUDE (ticket_id)
    WHERE kind = 'status_changed' AND after->>'status' = 'resolved';
CREATE INDEX ticket_events_reopened_idx ON ticket_events (ticket_id, created_at)
    WHERE kind = 'status_changed' AND before->>'status' = 'resolved' AND after->>'status' IN ('new', 'assigned', 'in_progress');
ANALYZE ticket_events;
