/**
 * A job's progress as the API tells it: the job's workflow's own counts (its progress query),
 * set right by what the database recorded subtask by subtask. A batch's workflow reports its
 * subtasks to the job's only when the batch ends (workflows/batch.ts), so the query alone counts
 * a batch's finished subtasks as running until the last of them ends; the database counts each
 * as it ends (schema/migrations/0011_subtask_counts.sql). Pure.
 */

/** The counts both sides keep. */
export interface ProgressCounts {
  running: number;
  succeeded: number;
  failed: number;
}

/**
 * The workflow's progress `p`, with the subtasks the database recorded as ended that `p` still
 * counts as running moved to the ended counts. Neither side's count goes down: one read after
 * the other may be the newer.
 */
export function withRecordedEnds<P extends ProgressCounts>(p: P, recorded: { succeeded: number; failed: number }): P {
  const succeeded = Math.max(p.succeeded, recorded.succeeded);
  const failed = Math.max(p.failed, recorded.failed);
  const endedWhileRunning = succeeded - p.succeeded + (failed - p.failed);
  return { ...p, succeeded, failed, running: Math.max(0, p.running - endedWhileRunning) };
}
