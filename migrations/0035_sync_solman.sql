-- SAP Solution Manager connectors (api/integrations/solman/sync.py, docs/integrations/solman.md): their secrets
-- (Basic password or OAuth2 client secret), encrypted like the GLPI tokens (api/crypto.py ENCRYPTED_COLUMNS), in
-- the columns GLPI's High-Level API uses for its OAuth secrets (0033).
ALTER TABLE sync_connectors
    ADD COLUMN IF NOT EXISTS password_encrypted text,
    ADD COLUMN IF NOT EXISTS client_secret_encrypted text;
