-- name: principal_by_token_hash
-- The token's state and the user behind it, with their teams. Marks the token used when it is live and its
-- last use is more than a minute old (one write per token per minute, in the same statement).
WITH tok AS (
    SELECT id, user_id, expires_at, revoked_at, last_used_at FROM api_tokens WHERE token_hash = %(token_hash)s
), touched AS (
    UPDATE api_tokens t SET last_used_at = now()
    FROM tok
    WHERE t.id = tok.id AND tok.revoked_at IS NULL AND (tok.expires_at IS NULL OR tok.expires_at > now())
      AND (tok.last_used_at IS NULL OR tok.last_used_at < now() - interval '1 minute')
    RETURNING t.id
)
SELECT u.id, u.email, u.name, u.role, u.department, u.vip, u.active,
       tok.expires_at, tok.revoked_at, tok.expires_at IS NOT NULL AND tok.expires_at <= now() AS expired,
       coalesce(array_agg(tm.team_id) FILTER (WHERE tm.team_id IS NOT NULL), '{}') AS team_ids
FROM tok
JOIN users u ON u.id = tok.user_id
LEFT JOIN team_members tm ON tm.user_id = u.id
GROUP BY u.id, tok.expires_at, tok.revoked_at

-- name: principal_by_email
-- The active user with this e-mail address (case-insensitive), with their teams.
SELECT u.id, u.email, u.name, u.role, u.department, u.vip,
       coalesce(array_agg(tm.team_id) FILTER (WHERE tm.team_id IS NOT NULL), '{}') AS team_ids
FROM users u
LEFT JOIN team_members tm ON tm.user_id = u.id
WHERE lower(u.email) = lower(%(email)s) AND u.active
GROUP BY u.id

-- name: get_user
-- One user by id.
SELECT id, email, name, role, department, vip, capacity, active, created_at, deactivated_at FROM users WHERE id = %(id)s

-- name: user_names
-- The names of these users (deactivated ones too: they still appear on old tickets).
SELECT id, name FROM users WHERE id = ANY(%(ids)s)

-- name: get_user_by_email
-- One user by e-mail address (case-insensitive).
SELECT id, email, name, role, department, vip, capacity, active, created_at, deactivated_at
FROM users WHERE lower(email) = lower(%(email)s)

-- name: list_users
-- Users, optionally of one role or team, by id.
SELECT u.id, u.email, u.name, u.role, u.department, u.vip, u.capacity, u.active, u.created_at, u.deactivated_at
FROM users u
WHERE (%(role)s::text IS NULL OR u.role = %(role)s)
  AND (%(team_id)s::bigint IS NULL OR EXISTS (
        SELECT 1 FROM team_members tm WHERE tm.user_id = u.id AND tm.team_id = %(team_id)s))
ORDER BY u.id
LIMIT %(limit)s

-- name: create_user
-- Inserts a user; a clash on the e-mail address is a unique violation on users_email_key.
INSERT INTO users (email, name, role, department, vip, capacity)
VALUES (%(email)s, %(name)s, %(role)s, %(department)s, %(vip)s, %(capacity)s)
RETURNING id, email, name, role, department, vip, capacity, active, created_at, deactivated_at

-- name: create_token
-- Stores the hash of a new API token.
INSERT INTO api_tokens (user_id, token_hash, prefix, name, expires_at)
VALUES (%(user_id)s, %(token_hash)s, %(prefix)s, %(name)s, %(expires_at)s)
RETURNING id, user_id, prefix, name, created_at, expires_at

-- name: revoke_tokens
-- Revokes every token of a user, or only the one with this prefix.
UPDATE api_tokens SET revoked_at = now()
WHERE user_id = %(user_id)s AND revoked_at IS NULL AND (%(prefix)s::text IS NULL OR prefix = %(prefix)s)
RETURNING id

-- name: revoke_token
-- Revokes one token by id or by prefix (a prefix naming several tokens is a cardinality violation);
-- a token revoked earlier keeps its first revocation time.
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
WHERE id = (SELECT id FROM api_tokens
            WHERE (%(id)s::bigint IS NOT NULL AND id = %(id)s) OR (%(prefix)s::text IS NOT NULL AND prefix = %(prefix)s))
RETURNING id

-- name: list_tokens
-- Tokens with their owner, newest first; optionally one user's, optionally only live ones.
SELECT t.id, t.user_id, u.email, u.role, t.prefix, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE (%(user_id)s::bigint IS NULL OR t.user_id = %(user_id)s)
  AND (NOT %(live_only)s OR (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())))
ORDER BY t.created_at DESC, t.id DESC
LIMIT %(limit)s

-- name: get_token
-- One token (without its hash) by id.
SELECT t.id, t.user_id, u.email, u.role, t.prefix, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.id = %(id)s

-- name: deactivate_user
-- Marks a user inactive (their tickets, comments and history stay); deactivating twice keeps the first time.
UPDATE users SET active = false, deactivated_at = coalesce(deactivated_at, now())
WHERE id = %(id)s
RETURNING id, email, name, role, department, vip, capacity, active, created_at, deactivated_at

-- name: list_teams
-- Teams with their members' ids.
SELECT t.id, t.slug, t.name, t.email,
       coalesce(array_agg(tm.user_id ORDER BY tm.user_id) FILTER (WHERE tm.user_id IS NOT NULL), '{}') AS member_ids
FROM teams t LEFT JOIN team_members tm ON tm.team_id = t.id
GROUP BY t.id ORDER BY t.id

-- name: get_team_by_slug
-- One team by slug.
SELECT id, slug, name, email FROM teams WHERE slug = %(slug)s

-- name: create_team
-- Inserts a team.
INSERT INTO teams (slug, name, email) VALUES (%(slug)s, %(name)s, %(email)s)
RETURNING id, slug, name, email

-- name: add_team_member
-- Adds a user to a team; adding twice is harmless.
INSERT INTO team_members (team_id, user_id) VALUES (%(team_id)s, %(user_id)s) ON CONFLICT DO NOTHING

-- name: set_skill
-- Sets an agent's level in a skill.
INSERT INTO agent_skills (user_id, skill, level) VALUES (%(user_id)s, %(skill)s, %(level)s)
ON CONFLICT (user_id, skill) DO UPDATE SET level = EXCLUDED.level

-- name: list_skills
-- An agent's skills.
SELECT skill, level FROM agent_skills WHERE user_id = %(user_id)s ORDER BY skill

-- name: principal_by_id
-- The active user with this id, with their teams.
SELECT u.id, u.email, u.name, u.role, u.department, u.vip,
       coalesce(array_agg(tm.team_id) FILTER (WHERE tm.team_id IS NOT NULL), '{}') AS team_ids
FROM users u
LEFT JOIN team_members tm ON tm.user_id = u.id
WHERE u.id = %(id)s AND u.active
GROUP BY u.id

-- name: set_phone
-- Sets or removes a user's phone number (SMS alerts go there).
UPDATE users SET phone = %(phone)s WHERE id = %(user_id)s RETURNING id
