-- Sliding-window rate limits (api/ratelimit.py).

-- name: hit
-- Records a hit on a key unless %(limit)s hits already fall in the last %(window_s)s seconds; returns
-- whether it was allowed and the oldest hit still in the window. Atomic: the row lock serialises checks.
INSERT INTO rate_limits AS r (key, hits, allowed, updated_at)
VALUES (%(key)s, ARRAY[statement_timestamp()], true, statement_timestamp())
ON CONFLICT (key) DO UPDATE SET
    hits = (SELECT CASE WHEN count(*) < %(limit)s
                        THEN coalesce(array_agg(h ORDER BY h), '{}') || EXCLUDED.hits
                        ELSE array_agg(h ORDER BY h) END
            FROM unnest(r.hits) h WHERE h > EXCLUDED.updated_at - make_interval(secs => %(window_s)s)),
    allowed = (SELECT count(*) < %(limit)s
               FROM unnest(r.hits) h WHERE h > EXCLUDED.updated_at - make_interval(secs => %(window_s)s)),
    updated_at = EXCLUDED.updated_at
RETURNING allowed,
          ceil(extract(epoch FROM hits[1] + make_interval(secs => %(window_s)s) - statement_timestamp()))::int
              AS retry_after_s

