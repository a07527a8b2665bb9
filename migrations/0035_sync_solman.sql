-- SAP Solution Manager connectors (api/integrations/solman/sync.py, docs/integrations/solman.md): their secrets
-- (Basic password or OAuth2 client secret), encrypted like the GLPI tokens (api/crypto.py ENCRYPTED_COLUMNS).
ALTER TABLE sync_connectors
    ADD COLUMN password_encrypted text,
    ADD COLUMN client_secret_encrypted text;
