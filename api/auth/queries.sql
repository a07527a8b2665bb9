-- name: principal_by_token_hash
-- The active user behind an unrevoked, unexpired token, with the teams they belong to.
SELECT u.id, u.email, u.name, u.role, u.department, u.vip,
       coalesce(array_agg(tm.team_id) FILTER (WHERE tm.team_id IS NOT NULL), '{}') AS team_ids
FROM api_tokens t
JOIN users u ON u.id = t.user_id
LEFT JOIN team_members tm ON tm.user_id = u.id
WHERE t.token_hash = %(token_hash)s
  AND t.revoked_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now())
  AND u.active
GROUP BY u.id

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
SELECT id, email, name, role, department, vip, capacity, active, created_at FROM users WHERE id = %(id)s

-- name: get_user_by_email
-- One user by e-mail address (case-insensitive).
SELECT id, email, name, role, department, vip, capacity, active, created_at
FROM users WHERE lower(email) = lower(%(email)s)

-- name: list_users
-- Users, optionally of one role or team, by id.
SELECT u.id, u.email, u.name, u.role, u.department, u.vip, u.capacity, u.active, u.created_at
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
RETURNING id, email, name, role, department, vip, capacity, active, created_at

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
