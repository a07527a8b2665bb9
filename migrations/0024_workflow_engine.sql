-- Workflows engine, part 2 (docs/workflows.md).

-- Job pickup when a lock is released. procrastinate announces a job when it is inserted; a job that waits for
-- its lock (the next step of a workflow run, deferred while the current step's job still runs) is announced
-- while it cannot be fetched, and an idle worker then waits for its next poll. This announces the oldest due
-- job of the lock again when the job holding it ends (finished, failed, retried or deleted), in procrastinate's
-- own words (the 'job_inserted' payload on the queue's channels, as procrastinate_notify_queue_job_inserted_v1).
CREATE FUNCTION deskmate_notify_lock_released() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    waiting procrastinate_jobs;
    payload text;
BEGIN
    SELECT * INTO waiting FROM procrastinate_jobs
    WHERE lock = OLD.lock AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
    ORDER BY priority DESC, id LIMIT 1;
    IF FOUND THEN
        payload := json_build_object('type', 'job_inserted', 'job_id', waiting.id)::text;
        PERFORM pg_notify('procrastinate_queue_v1#' || waiting.queue_name, payload);
        PERFORM pg_notify('procrastinate_any_queue_v1', payload);
    END IF;
    RETURN NULL;
END;
$$;

CREATE INDEX deskmate_jobs_waiting_lock_idx ON procrastinate_jobs (lock) WHERE status = 'todo' AND lock IS NOT NULL;

CREATE TRIGGER deskmate_jobs_lock_released_update
    AFTER UPDATE OF status ON procrastinate_jobs
    FOR EACH ROW WHEN (OLD.status = 'doing' AND NEW.status <> 'doing' AND OLD.lock IS NOT NULL)
    EXECUTE FUNCTION deskmate_notify_lock_released();

CREATE TRIGGER deskmate_jobs_lock_released_delete
    AFTER DELETE ON procrastinate_jobs
    FOR EACH ROW WHEN (OLD.status = 'doing' AND OLD.lock IS NOT NULL)
    EXECUTE FUNCTION deskmate_notify_lock_released();
