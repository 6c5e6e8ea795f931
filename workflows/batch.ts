/**
 * subtaskBatchWorkflow: several subtasks of one job side by side in one workflow (core/batches.ts
 * says how many). Each goes its own way through the market exactly as in a workflow of its own
 * (subtask.ts subtaskLife): its attempts, agreements, copies, verification and payment. What
 * the batch saves is Temporal's: one execution and two of the job's activations for all of
 * them, and one load of their run requests. When one subtask fails, the others are stopped (the
 * job fails fast, as it does with a workflow per subtask); the batch then reports how each
 * ended, so the job still counts, and pays for, those accepted before.
 * Deterministic: it sees activities only through their types.
 */
import { ActivityFailure, CancellationScope, TemporalFailure, isCancellation, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { RequestorActivities } from '../activities/requestor.js';
import { localBookkeeping } from './activityOptions.js';
import { batchStateQuery, type BatchEntry, type BatchInput, type BatchOutcome, type SubtaskState } from './definitions.js';
import { newSubtaskState, subtaskLife } from './subtask.js';

const requestor = proxyLocalActivities<RequestorActivities>(localBookkeeping);

/** The message a subtask failed with, past the activity's wrapper when an activity failed for good. */
function reasonOf(e: TemporalFailure): string {
  return e instanceof ActivityFailure && e.cause ? e.cause.message : e.message;
}

export async function subtaskBatchWorkflow({ subtask, indexes }: BatchInput): Promise<BatchOutcome> {
  const states: Record<number, SubtaskState> = {};
  for (const index of indexes) states[index] = newSubtaskState();
  setHandler(batchStateQuery, () => states);

  const entries: BatchEntry[] = indexes.map((index) => ({ kind: 'stopped', index }));
  const lives = new CancellationScope();
  let failed = false;
  try {
    const requests = await requestor.loadSubtasks({ jobId: subtask.jobId, indexes });
    await Promise.all(
      indexes.map((index, i) =>
        lives.run(() => subtaskLife({ ...subtask, index }, states[index], requests[i])).then(
          (outcome) => {
            entries[i] = { kind: 'succeeded', ...outcome };
          },
          (e) => {
            // Stopped: its cleanup ran (subtaskLife ends a cancelled subtask) and it is left as stopped.
            if (isCancellation(e)) return;
            // Anything but a failure (a bug) fails the workflow task, to be retried once fixed, as in a workflow of its own.
            if (!(e instanceof TemporalFailure)) throw e;
            entries[i] = { kind: 'failed', index, reason: reasonOf(e) };
            if (!failed) {
              failed = true;
              lives.cancel();
            }
          },
        ),
      ),
    );
  } catch (e) {
    // The job was cancelled while the batch loaded: no subtask had started.
    if (!isCancellation(e)) throw e;
  }
  return { subtasks: entries };
}
