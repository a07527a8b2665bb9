-- CSAT (api/analytics/queries.sql, csat) at scale: the surveys asked in the period by an index, as the answered ones
-- already are (0037). With the query's ticket lookup only when a team or category is chosen, the metric at
-- 1,000,000 tickets takes 10 ms instead of 385 (bench/console.py; it scanned every survey and every ticket).
CREATE INDEX csat_surveys_asked_idx ON csat_surveys (asked_at) WHERE asked_at IS NOT NULL;
