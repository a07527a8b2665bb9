-- Step-up identity check (api/stepup/service.py).

-- name: factors_on_file
-- An active employee's mobile number, e-mail address and whether an authenticator app is enrolled.
SELECT u.id, u.email, u.name, u.phone, (t.user_id IS NOT NULL) AS totp
FROM users u LEFT JOIN stepup_totp t ON t.user_id = u.id
WHERE u.id = %(user_id)s AND u.active

-- name: enroll_totp
-- Enrols (or replaces) the employee's authenticator app; its secret arrives encrypted.
INSERT INTO stepup_totp (user_id, secret_encrypted) VALUES (%(user_id)s, %(secret_encrypted)s)
ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = EXCLUDED.secret_encrypted, last_step = NULL,
                                    enrolled_at = now()

-- name: lock_totp
-- The employee's authenticator secret and last accepted time step, locked for this transaction.
SELECT secret_encrypted, last_step FROM stepup_totp WHERE user_id = %(user_id)s FOR UPDATE

-- name: use_totp_step
-- Records the time step of an accepted authenticator code.
UPDATE stepup_totp SET last_step = %(step)s WHERE user_id = %(user_id)s

-- name: lock_state
-- The employee's wrong-code count and lockout, created when missing, locked for this transaction.
INSERT INTO stepup_users AS s (user_id) VALUES (%(user_id)s)
ON CONFLICT (user_id) DO UPDATE SET user_id = s.user_id
RETURNING failures, locked_until, lockout_ticket_id

-- name: set_failures
-- Counts wrong codes in a row (0 after a right one).
UPDATE stepup_users SET failures = %(failures)s, updated_at = %(now)s WHERE user_id = %(user_id)s

-- name: lock_out
-- Locks step-up for the employee until %(locked_until)s; the count starts again afterwards.
UPDATE stepup_users SET failures = 0, locked_until = %(locked_until)s, lockout_ticket_id = %(ticket_id)s,
                        updated_at = %(now)s
WHERE user_id = %(user_id)s

-- name: create_challenge
-- Records a challenge (the code only as its salted HMAC).
INSERT INTO stepup_challenges (user_id, conversation_id, factor, destination, code_salt, code_hash, created_at,
                               expires_at)
VALUES (%(user_id)s, %(conversation_id)s, %(factor)s, %(destination)s, %(code_salt)s, %(code_hash)s, %(now)s,
        %(expires_at)s)
RETURNING id, conversation_id, factor, destination, expires_at

-- name: get_challenge
-- One of the employee's challenges, as shown (no hash).
SELECT id, conversation_id, factor, destination, expires_at FROM stepup_challenges
WHERE id = %(id)s AND user_id = %(user_id)s

-- name: lock_challenge
-- The employee's challenge in this conversation, locked for this transaction.
SELECT * FROM stepup_challenges
WHERE id = %(id)s AND user_id = %(user_id)s AND conversation_id = %(conversation_id)s
FOR UPDATE

-- name: mark_verified
-- Uses up a challenge: it passed.
UPDATE stepup_challenges SET verified_at = %(now)s WHERE id = %(id)s

-- name: recent_pass
-- The employee's newest passed challenge in the conversation since %(since)s, unless step-up is locked now.
SELECT c.id, c.user_id, c.conversation_id, c.factor, c.verified_at
FROM stepup_challenges c
LEFT JOIN stepup_users s ON s.user_id = c.user_id
WHERE c.user_id = %(user_id)s AND c.conversation_id = %(conversation_id)s
  AND c.verified_at > %(since)s AND c.verified_at <= %(now)s
  AND (s.locked_until IS NULL OR s.locked_until <= %(now)s)
ORDER BY c.verified_at DESC LIMIT 1

-- name: open_challenge
-- The conversation's newest challenge started since %(since)s: whether it was passed, whether it has expired.
SELECT id, user_id, verified_at IS NOT NULL AS used, expires_at <= %(now)s AS expired FROM stepup_challenges
WHERE conversation_id = %(conversation_id)s AND created_at > %(since)s
ORDER BY id DESC LIMIT 1

-- name: system_user
-- The step-up system actor (migration 0021).
SELECT id, email, name FROM users WHERE email = 'stepup@deskmate.invalid'

-- name: locked_until
-- Until when step-up is locked for the employee (NULL: not locked, or never failed).
SELECT locked_until FROM stepup_users WHERE user_id = %(user_id)s
