-- The job queue's own queries (procrastinate's tables).

-- name: due_jobs
-- The jobs in these queues that are waiting and due now.
SELECT id FROM procrastinate_jobs
WHERE status = 'todo' AND queue_name = ANY(%(queues)s) AND (scheduled_at IS NULL OR scheduled_at <= now())

-- name: release_lock
-- Lets the jobs waiting for this running job's lock start before it ends (it has no more work under the lock).
UPDATE procrastinate_jobs SET lock = NULL WHERE id = %(id)s AND status = 'doing'
