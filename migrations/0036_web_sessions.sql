-- Signing in to the web pages (api/web/signin, docs/console.md#signing-in): server-side sessions and the
-- one-time e-mailed sign-in links. Only SHA-256 hashes of the cookie's session secret and of a link's token
-- are stored; the CSRF token is derived from the session secret (HMAC), so nothing here signs anything.
CREATE TABLE web_sessions (
    id_hash bytea PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method text NOT NULL CHECK (method IN ('oidc', 'link')),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    idle_expires_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

CREATE TABLE signin_links (
    token_hash bytea PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX signin_links_expiry ON signin_links (expires_at);
