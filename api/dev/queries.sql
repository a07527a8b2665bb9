-- name: get_seed
-- Whether a piece of demo data was seeded already.
SELECT name, seeded_at FROM dev_seeds WHERE name = %(name)s

-- name: mark_seeded
-- Records that a piece of demo data was seeded; marking twice is harmless.
INSERT INTO dev_seeds (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING
