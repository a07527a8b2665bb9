-- A sync conflict is resolved by a person (api/integrations/sync/service.py resolve_conflict): keep the external
-- system's value ('theirs', already applied) or deskmate's ('ours', applied again through the ticket service and
-- so synced out). Who and when are kept beside the choice.
ALTER TABLE sync_conflicts
    ADD COLUMN resolution text CHECK (resolution IN ('theirs', 'ours')),
    ADD COLUMN resolved_by bigint REFERENCES users ON DELETE SET NULL,
    ADD COLUMN resolved_at timestamptz;
CREATE INDEX sync_conflicts_open_idx ON sync_conflicts (id) WHERE NOT resolved;
