-- Web sessions and e-mailed sign-in links (api/web/signin).

-- name: create_session
-- Stores a new session by the hash of its secret; it ends at the absolute expiry or after the idle time unused.
INSERT INTO web_sessions (id_hash, user_id, method, idle_expires_at, expires_at)
VALUES (%(id_hash)s, %(user_id)s, %(method)s, now() + make_interval(mins => %(idle_minutes)s),
        now() + make_interval(hours => %(max_hours)s))
RETURNING created_at, expires_at

-- name: touch_session
-- The live session with this hash and its active user with their teams; a use more than a minute after the
-- last one moves the idle expiry on (one write per session per minute, in the same statement).
WITH live AS (
    SELECT id_hash, user_id, last_seen_at FROM web_sessions
    WHERE id_hash = %(id_hash)s AND expires_at > now() AND idle_expires_at > now()
), touched AS (
    UPDATE web_sessions s SET last_seen_at = now(),
        idle_expires_at = least(s.expires_at, now() + make_interval(mins => %(idle_minutes)s))
    FROM live
    WHERE s.id_hash = live.id_hash AND live.last_seen_at < now() - interval '1 minute'
    RETURNING s.id_hash
)
SELECT u.id, u.email, u.name, u.role, u.department, u.vip,
       coalesce(array_agg(tm.team_id) FILTER (WHERE tm.team_id IS NOT NULL), '{}') AS team_ids
FROM live
JOIN users u ON u.id = live.user_id AND u.active
LEFT JOIN team_members tm ON tm.user_id = u.id
GROUP BY u.id

-- name: delete_session
-- Ends one session (signing out, or the old session when a new one starts in the same browser).
DELETE FROM web_sessions WHERE id_hash = %(id_hash)s

-- name: create_link
-- Stores the hash of a new one-time sign-in link.
INSERT INTO signin_links (token_hash, user_id, expires_at)
VALUES (%(token_hash)s, %(user_id)s, now() + make_interval(mins => %(minutes)s))
RETURNING expires_at

-- name: use_link
-- Marks a live, unused link used and returns its user; nothing when it is unknown, used or expired.
UPDATE signin_links SET used_at = now()
WHERE token_hash = %(token_hash)s AND used_at IS NULL AND expires_at > now()
RETURNING user_id

-- name: get_link
-- A link's state, to say why it cannot be used.
SELECT used_at, expires_at FROM signin_links WHERE token_hash = %(token_hash)s
