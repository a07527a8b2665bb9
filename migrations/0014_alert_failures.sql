-- A rule whose firing fails (a template that raises at render time, …) is recorded as 'failed' with the
-- reason, instead of failing the ticket's triage (api/alerts/fire.py).
ALTER TABLE alert_firings DROP CONSTRAINT alert_firings_status_check;
ALTER TABLE alert_firings ADD CONSTRAINT alert_firings_status_check
    CHECK (status IN ('fired', 'suppressed', 'no_recipients', 'failed'));
ALTER TABLE alert_firings ADD COLUMN error text;
