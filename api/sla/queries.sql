-- SLA calendars, policies and ticket clocks.

-- name: list_calendars
-- Calendars with their holidays and the teams that use them.
SELECT c.*,
       coalesce((SELECT json_agg(json_build_object('day', h.day, 'name', h.name) ORDER BY h.day)
                   FROM calendar_holidays h WHERE h.calendar_id = c.id), '[]'::json) AS holidays,
       coalesce((SELECT array_agg(t.slug ORDER BY t.slug) FROM team_calendars tc JOIN teams t ON t.id = tc.team_id
                  WHERE tc.calendar_id = c.id), '{}') AS teams
FROM business_calendars c
WHERE (%(slug)s::text IS NULL OR c.slug = %(slug)s)
ORDER BY c.slug

-- name: upsert_calendar
-- Creates or replaces a calendar by slug.
INSERT INTO business_calendars (slug, name, time_zone, hours, is_default)
VALUES (%(slug)s, %(name)s, %(time_zone)s, %(hours)s, %(is_default)s)
ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone, hours = EXCLUDED.hours,
    is_default = EXCLUDED.is_default
RETURNING id

-- name: clear_default_calendar
-- Makes no calendar the default (before another one becomes it).
UPDATE business_calendars SET is_default = false WHERE is_default AND slug <> %(slug)s

-- name: delete_holidays
-- Removes a calendar's holidays (before replacing them).
DELETE FROM calendar_holidays WHERE calendar_id = %(calendar_id)s

-- name: insert_holiday
-- Adds a holiday to a calendar.
INSERT INTO calendar_holidays (calendar_id, day, name) VALUES (%(calendar_id)s, %(day)s, %(name)s)
ON CONFLICT (calendar_id, day) DO UPDATE SET name = EXCLUDED.name

-- name: set_team_calendar
-- Gives a team a calendar.
INSERT INTO team_calendars (team_id, calendar_id)
SELECT t.id, c.id FROM teams t, business_calendars c WHERE t.slug = %(team)s AND c.slug = %(calendar)s
ON CONFLICT (team_id) DO UPDATE SET calendar_id = EXCLUDED.calendar_id
RETURNING team_id

-- name: calendar_for_team
-- The team's calendar, else the default one.
SELECT c.id, c.slug, c.time_zone, c.hours,
       coalesce((SELECT array_agg(h.day) FROM calendar_holidays h WHERE h.calendar_id = c.id), '{}') AS holidays
FROM business_calendars c
WHERE c.id = coalesce((SELECT calendar_id FROM team_calendars WHERE team_id = %(team_id)s),
                      (SELECT id FROM business_calendars WHERE is_default))

-- name: calendar_by_id
-- One calendar with its holidays.
SELECT c.id, c.slug, c.time_zone, c.hours,
       coalesce((SELECT array_agg(h.day) FROM calendar_holidays h WHERE h.calendar_id = c.id), '{}') AS holidays
FROM business_calendars c WHERE c.id = %(id)s

-- name: list_policies
-- SLA policies by priority, general ones first.
SELECT p.*, t.slug AS team FROM sla_policies p LEFT JOIN teams t ON t.id = p.team_id
WHERE (%(id)s::bigint IS NULL OR p.id = %(id)s)
ORDER BY p.priority, p.team_id NULLS FIRST

-- name: create_policy
-- Inserts an SLA policy.
INSERT INTO sla_policies (name, priority, team_id, respond_minutes, resolve_minutes, warn_ratio)
VALUES (%(name)s, %(priority)s, (SELECT id FROM teams WHERE slug = %(team)s), %(respond_minutes)s,
        %(resolve_minutes)s, %(warn_ratio)s)
RETURNING id

-- name: update_policy
-- Replaces an SLA policy.
UPDATE sla_policies SET name = %(name)s, priority = %(priority)s, team_id = (SELECT id FROM teams WHERE slug = %(team)s),
    respond_minutes = %(respond_minutes)s, resolve_minutes = %(resolve_minutes)s, warn_ratio = %(warn_ratio)s
WHERE id = %(id)s
RETURNING id

-- name: delete_policy
-- Deletes an SLA policy (running clocks keep their targets).
DELETE FROM sla_policies WHERE id = %(id)s RETURNING id

-- name: policy_for
-- The policy for a priority: the team's own, else the general one.
SELECT * FROM sla_policies
WHERE priority = %(priority)s AND (team_id = %(team_id)s OR team_id IS NULL)
ORDER BY team_id NULLS LAST LIMIT 1

-- name: lock_clock
-- A ticket's SLA clock, locked for a change.
SELECT * FROM ticket_sla WHERE ticket_id = %(ticket_id)s FOR UPDATE

-- name: insert_clock
-- Starts a ticket's SLA clock.
INSERT INTO ticket_sla (ticket_id, policy_id, calendar_id, started_at, respond_target_s, resolve_target_s, warn_ratio)
VALUES (%(ticket_id)s, %(policy_id)s, %(calendar_id)s, %(started_at)s, %(respond_target_s)s, %(resolve_target_s)s,
        %(warn_ratio)s)
ON CONFLICT (ticket_id) DO NOTHING
RETURNING *

-- name: save_clock
-- Writes a ticket's SLA clock.
UPDATE ticket_sla SET policy_id = %(policy_id)s, calendar_id = %(calendar_id)s,
    respond_target_s = %(respond_target_s)s, resolve_target_s = %(resolve_target_s)s, warn_ratio = %(warn_ratio)s,
    paused_at = %(paused_at)s, paused_business_s = %(paused_business_s)s,
    responded_at = %(responded_at)s, resolved_at = %(resolved_at)s,
    respond_warn_at = %(respond_warn_at)s, resolve_warn_at = %(resolve_warn_at)s,
    respond_warned_at = %(respond_warned_at)s, respond_breached_at = %(respond_breached_at)s,
    resolve_warned_at = %(resolve_warned_at)s, resolve_breached_at = %(resolve_breached_at)s,
    generation = %(generation)s, updated_at = now()
WHERE ticket_id = %(ticket_id)s

-- name: get_clock
-- A ticket's SLA clock with its due times, policy and calendar names.
SELECT s.*, t.respond_due_at, t.resolve_due_at, p.name AS policy, c.slug AS calendar
FROM ticket_sla s JOIN tickets t ON t.id = s.ticket_id
LEFT JOIN sla_policies p ON p.id = s.policy_id LEFT JOIN business_calendars c ON c.id = s.calendar_id
WHERE s.ticket_id = %(ticket_id)s

-- name: ticket_for_sla
-- What the SLA clock needs of a ticket.
SELECT id, priority, team_id, status, requester_id, created_at, respond_due_at, resolve_due_at
FROM tickets WHERE id = %(ticket_id)s

-- name: overdue_clocks
-- Running clocks with a warning or breach that has not been raised yet (the sweeper's safety net).
SELECT s.ticket_id FROM ticket_sla s JOIN tickets t ON t.id = s.ticket_id
WHERE s.paused_at IS NULL AND (
    (s.responded_at IS NULL AND ((s.respond_warned_at IS NULL AND s.respond_warn_at <= now())
                                 OR (s.respond_breached_at IS NULL AND t.respond_due_at <= now())))
    OR (s.resolved_at IS NULL AND ((s.resolve_warned_at IS NULL AND s.resolve_warn_at <= now())
                                   OR (s.resolve_breached_at IS NULL AND t.resolve_due_at <= now()))))
ORDER BY s.ticket_id
LIMIT %(limit)s

-- name: db_now
-- The database's clock (one clock for every worker).
SELECT now() AS now

-- name: team_exists
-- Whether a team slug exists.
SELECT 1 FROM teams WHERE slug = %(slug)s
