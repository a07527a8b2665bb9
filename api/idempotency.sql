-- Client-supplied Idempotency-Key claims, shared by every endpoint that creates.

-- name: claim
-- Claims a key; returns nothing when it was claimed before (waits for a claim still in flight).
INSERT INTO idempotency_keys (user_id, scope, key, request_hash)
VALUES (%(user_id)s, %(scope)s, %(key)s, %(request_hash)s)
ON CONFLICT DO NOTHING
RETURNING key

-- name: get
-- The earlier claim of a key.
SELECT request_hash, resource_id FROM idempotency_keys
WHERE user_id = %(user_id)s AND scope = %(scope)s AND key = %(key)s

-- name: set_resource
-- Records what a claimed key created.
UPDATE idempotency_keys SET resource_id = %(resource_id)s
WHERE user_id = %(user_id)s AND scope = %(scope)s AND key = %(key)s
