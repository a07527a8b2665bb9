-- Token and user lifecycle (docs/security.md): when a token was last used, when a user was deactivated.
ALTER TABLE api_tokens ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at DESC);
ALTER TABLE users ADD COLUMN deactivated_at timestamptz;

-- Demo data seeded once by `deskmate run` (api/dev/demo.py): a restart never re-seeds it.
CREATE TABLE dev_seeds (
    name text PRIMARY KEY,
    seeded_at timestamptz NOT NULL DEFAULT now()
);
-- A database that already holds articles had its demo KB seeded by an earlier `deskmate run`.
INSERT INTO dev_seeds (name) SELECT 'demo-kb' WHERE EXISTS (SELECT 1 FROM kb_articles);
