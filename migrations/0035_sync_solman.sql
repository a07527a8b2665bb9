-- SAP Solution Manager connectors (api/integrations/solman/sync.py, docs/integrations/solman.md) keep their
-- secrets (Basic password or OAuth2 client secret) encrypted like the GLPI tokens (api/crypto.py
-- ENCRYPTED_COLUMNS). GLPI's High-Level API needs the same two secrets (0033 gave it columns of its own): one pair of
-- columns serves both kinds, so 0033's move here.
ALTER TABLE sync_connectors
    ADD COLUMN password_encrypted text,
    ADD COLUMN client_secret_encrypted text;
UPDATE sync_connectors SET password_encrypted = oauth_password_encrypted,
                           client_secret_encrypted = oauth_client_secret_encrypted
WHERE oauth_password_encrypted IS NOT NULL OR oauth_client_secret_encrypted IS NOT NULL;
ALTER TABLE sync_connectors
    DROP COLUMN oauth_password_encrypted,
    DROP COLUMN oauth_client_secret_encrypted;
