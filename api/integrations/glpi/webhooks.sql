-- GLPI webhooks (api/integrations/glpi/webhooks.py, migrations/0034_glpi_webhooks.sql).

-- name: set_webhook_secret
-- Sets (or, with null, removes) a connector's webhook secret.
UPDATE sync_connectors SET webhook_secret_encrypted = %(encrypted)s, updated_at = now() WHERE id = %(id)s
RETURNING *

-- name: webhook_target
-- The connector a webhook names, with its encrypted secret.
SELECT id, name, enabled, config, webhook_secret_encrypted FROM sync_connectors WHERE name = %(name)s

-- name: record_delivery
-- Remembers an accepted delivery; nothing (no row) when it was accepted before: a replay.
INSERT INTO sync_webhook_deliveries (connector_id, signature, signed_at, external_id)
VALUES (%(connector_id)s, %(signature)s, to_timestamp(%(signed_at)s), %(external_id)s)
ON CONFLICT (connector_id, signature) DO NOTHING
RETURNING signature

-- name: prune_deliveries
-- Forgets deliveries signed before the accepted clock window (their replay is refused as stale).
DELETE FROM sync_webhook_deliveries WHERE connector_id = %(connector_id)s AND signed_at < to_timestamp(%(before)s)
