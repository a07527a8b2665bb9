-- GLPI webhooks (api/integrations/glpi/webhooks.py, docs/integrations/glpi.md#webhooks): the shared secret GLPI
-- signs with, and the deliveries already accepted (a replay of one has no second effect).

ALTER TABLE sync_connectors ADD COLUMN webhook_secret_encrypted text;  -- api/crypto.py (ENCRYPTED_COLUMNS)

-- A delivery is its signature (HMAC of body + timestamp): GLPI's retries resend the same one. Rows older than the
-- accepted clock window are pruned, since their timestamp is refused anyway.
CREATE TABLE sync_webhook_deliveries (
    connector_id bigint NOT NULL REFERENCES sync_connectors ON DELETE CASCADE,
    signature text NOT NULL,
    signed_at timestamptz NOT NULL,                         -- X-GLPI-timestamp
    external_id text,                                       -- the GLPI ticket it made us pull
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector_id, signature)
);
CREATE INDEX sync_webhook_deliveries_signed_idx ON sync_webhook_deliveries (connector_id, signed_at);
