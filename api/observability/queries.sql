-- Scrape-time gauges of /metrics (api/observability/metrics.py): read from the job queue's and the alerts' tables.

-- name: job_queues
-- Per queue: jobs waiting and due now, jobs scheduled for later, jobs running, and how long the oldest due job has
-- waited (since it was deferred or became due, whichever is later; 0 when none waits).
SELECT j.queue_name AS queue,
       count(*) FILTER (WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())) AS due,
       count(*) FILTER (WHERE j.status = 'todo' AND j.scheduled_at > now()) AS scheduled,
       count(*) FILTER (WHERE j.status = 'doing') AS doing,
       coalesce(extract(epoch FROM now() - min(greatest(d.at, j.scheduled_at))
                FILTER (WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now()))), 0)::float8
           AS oldest_due_s
FROM procrastinate_jobs j
LEFT JOIN LATERAL (SELECT min(e.at) AS at FROM procrastinate_events e
                   WHERE e.job_id = j.id AND e.type = 'deferred') d ON j.status = 'todo'
WHERE j.status IN ('todo', 'doing')
GROUP BY j.queue_name
ORDER BY j.queue_name

-- name: alert_deliveries
-- Alert deliveries kept (docs/operations.md, retention), by channel and status.
SELECT channel, status, count(*) AS n FROM alert_deliveries GROUP BY channel, status ORDER BY channel, status
