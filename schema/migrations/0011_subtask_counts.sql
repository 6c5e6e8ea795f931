-- A job's succeeded and failed counts follow its subtasks' status changes in the same statement
-- that changes them. They were recounted (two count(*) over the job's subtasks) on every accepted
-- result: work that grew with the job, a cost of O(n^2) over a job of n subtasks.
CREATE OR REPLACE FUNCTION golemflow_subtask_counts() RETURNS trigger AS $$
BEGIN
  UPDATE jobs SET
    succeeded_count = succeeded_count + (NEW.status = 'succeeded')::int - (OLD.status = 'succeeded')::int,
    failed_count = failed_count + (NEW.status = 'failed')::int - (OLD.status = 'failed')::int
  WHERE id = NEW.job_id;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER subtask_counts AFTER UPDATE OF status ON subtasks
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND (OLD.status IN ('succeeded', 'failed') OR NEW.status IN ('succeeded', 'failed')))
  EXECUTE FUNCTION golemflow_subtask_counts();
--> statement-breakpoint
-- Counts of jobs from before this migration, from their subtasks once.
UPDATE jobs SET
  succeeded_count = (SELECT count(*) FROM subtasks s WHERE s.job_id = jobs.id AND s.status = 'succeeded'),
  failed_count = (SELECT count(*) FROM subtasks s WHERE s.job_id = jobs.id AND s.status = 'failed');
