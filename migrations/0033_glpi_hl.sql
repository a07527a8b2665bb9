-- GLPI's High-Level API (api.php/v2, OAuth2) as a connector's API (api/integrations/glpi/hl_client.py,
-- docs/integrations/glpi.md#choosing-the-api): the OAuth client's secret and the user's password, encrypted
-- with api/crypto.py (ENCRYPTED_COLUMNS). The client id, the user name and the choice of API are in config.
ALTER TABLE sync_connectors
    ADD COLUMN IF NOT EXISTS oauth_client_secret_encrypted text,
    ADD COLUMN IF NOT EXISTS oauth_password_encrypted text;
