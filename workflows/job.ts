/**
 * jobWorkflow: a job's whole life. Prepare (validate, split into subtask rows), run the subtasks
 * in child workflows (a subtaskBatchWorkflow for several at a time when the job's limits allow,
 * else a subtaskWorkflow each) with a cap on subtasks in flight, merge, finish. Cancel is a
 * signal; progress is a query. A job with many subtasks continues as new before its history
 * grows too long, carrying its counters along.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  ParentClosePolicy,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  allHandlersFinished,
  patched,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { RequestorActivities } from '../activities/requestor.js';
import type { JobPlan } from '../activities/types.js';
import { subtaskWorkflow } from './subtask.js';
import { subtaskBatchWorkflow } from './batch.js';
import { batchAt, batchSize } from '../core/batches.js';
import { FailureType } from '../core/failures.js';
import { bookkeeping, merging, preparing } from './activityOptions.js';
import { batchWorkflowId, cancelSignal, JOB_STATUS, progressQuery, subtaskWorkflowId, type JobInput, type JobOutcome, type JobProgress, type SubtaskInput } from './definitions.js';
import { Settlement } from './settlement.js';

const requestor = proxyActivities<RequestorActivities>(bookkeeping);
const preparer = proxyActivities<RequestorActivities>(preparing);
const merger = proxyActivities<RequestorActivities>(merging);

/** Marks histories in which a failed job's workflow fails (older ones completed with status failed). */
const FAILED_JOBS_FAIL = 'failed-jobs-fail';

/**
 * Marks histories in which subtasks run in batches, several to a workflow (batch.ts,
 * core/batches.ts); older ones started a workflow for each subtask.
 */
export const SUBTASK_BATCHES = 'subtask-batches';

/** Marks histories in which the job's status is kept in its search attributes (older ones had none). */
const STATUS_SEARCH_ATTRIBUTE = 'status-search-attribute';

/** The job's status where the Temporal UI and CLI filter on it (GolemflowStatus). */
function showStatus(status: JobOutcome['status'] | 'running'): void {
  if (patched(STATUS_SEARCH_ATTRIBUTE)) upsertSearchAttributes([{ key: JOB_STATUS, value: status }]);
}

/**
 * A job's whole life. A job that fails makes its workflow fail too, so the Temporal UI and CLI
 * show it as failed (the outcome rides along as the failure's details); succeeded and cancelled
 * jobs complete.
 */
export async function jobWorkflow(input: JobInput): Promise<JobOutcome> {
  const outcome = await runJob(input);
  if (outcome.status === 'failed' && patched(FAILED_JOBS_FAIL)) throw ApplicationFailure.nonRetryable(outcome.error ?? 'the job failed', FailureType.JobFailed, outcome);
  return outcome;
}

async function runJob(input: JobInput): Promise<JobOutcome> {
  const { jobId } = input;
  const progress: JobProgress = {
    status: 'preparing',
    total: input.resume?.plan.subtaskCount ?? 0,
    started: input.resume?.nextIndex ?? 0,
    running: 0,
    succeeded: input.resume?.succeeded ?? 0,
    failed: 0,
    error: null,
    budgetWei: input.resume?.budgetWei ?? null,
    spentWei: input.resume?.spentWei ?? '0',
    note: null,
  };
  let cancelReason: string | null = null;
  // The job's money (a paid job's budget, payments and the raiseBudget update): settlement.ts.
  const settlement = new Settlement(jobId, progress, input.resume, () => cancelReason);
  setHandler(progressQuery, () => progress);
  setHandler(cancelSignal, (reason?: string) => {
    cancelReason ??= reason || 'cancelled by the requestor';
  });

  const finish = async (status: JobOutcome['status'], error: string | null, result = { value: null as string | null, ref: null as string | null }) => {
    // Accepted results are paid whether the job succeeds, fails or is cancelled.
    await CancellationScope.nonCancellable(() => settlement.settleAll());
    await CancellationScope.nonCancellable(() => requestor.finishJob({ jobId, status, error: error ?? undefined }));
    progress.status = status;
    progress.error = error;
    showStatus(status);
    return { status, error, ...result };
  };

  try {
    const plan = input.resume?.plan ?? (await preparer.prepareJob({ jobId }));
    // Drawn once per job (workflow randomness replays), handed to each subtask in its recorded input.
    const seed = input.resume?.seed ?? Math.floor(Math.random() * 2 ** 31);
    progress.total = plan.subtaskCount;
    if (plan.budgetWei && settlement.budget === null && (await settlement.lock(plan.budgetWei)) === 'cancelled') return await finish('cancelled', cancelReason);
    settlement.startPaying();
    progress.status = 'running';
    showStatus('running');

    const children = new CancellationScope();
    let failure: string | null = null;
    let next = input.resume?.nextIndex ?? 0;
    let rolling = false;

    const subtaskInput = (index: number): SubtaskInput => ({ jobId, index, maxAttempts: plan.maxAttempts, heartbeatTimeoutSeconds: plan.heartbeatTimeoutSeconds, offerDeadlineSeconds: plan.offerDeadlineSeconds, redundancy: plan.redundancy, maxExtraRuns: plan.maxExtraRuns, adaptive: plan.adaptive, compare: plan.compare, cropCheck: plan.cropCheck, seed });
    const failed = (e: unknown, what: string) => {
      if (isCancellation(e)) return;
      progress.failed++;
      const cause = e instanceof ChildWorkflowFailure ? e.cause : e;
      failure ??= (cause as Error)?.message ?? `${what} failed`;
    };

    const launch = (index: number) =>
      children.run(async () => {
        progress.started++;
        progress.running++;
        try {
          const handle = await startChild(subtaskWorkflow, {
            workflowId: subtaskWorkflowId(jobId, index),
            args: [subtaskInput(index)],
            parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          });
          const outcome = await handle.result();
          progress.succeeded++;
          settlement.owe(outcome?.costWei);
        } catch (e) {
          failed(e, `subtask ${index}`);
        } finally {
          progress.running--;
        }
      });

    /** Runs several subtasks in one workflow; each counts as it ended, the accepted ones paid for. */
    const launchBatch = (indexes: number[]) =>
      children.run(async () => {
        progress.started += indexes.length;
        progress.running += indexes.length;
        try {
          const { index: _, ...common } = subtaskInput(indexes[0]);
          const handle = await startChild(subtaskBatchWorkflow, {
            workflowId: batchWorkflowId(jobId, indexes[0], indexes[indexes.length - 1]),
            args: [{ subtask: common, indexes }],
            parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          });
          const outcome = await handle.result();
          for (const entry of outcome.subtasks) {
            if (entry.kind === 'succeeded') {
              progress.succeeded++;
              settlement.owe(entry.costWei);
            } else if (entry.kind === 'failed') {
              progress.failed++;
              failure ??= entry.reason;
            }
          }
        } catch (e) {
          failed(e, `subtasks ${indexes[0]}-${indexes[indexes.length - 1]}`);
        } finally {
          progress.running -= indexes.length;
        }
      });

    // Several subtasks to a workflow when the job's limits allow (core/batches.ts); histories from before ran one each.
    const size = batchSize(plan) > 1 && patched(SUBTASK_BATCHES) ? batchSize(plan) : 1;

    const pending: Promise<void>[] = [];
    while (next < plan.subtaskCount && !failure && !cancelReason) {
      const batch = size > 1 ? batchAt(next, size, plan.subtaskCount) : [next];
      await condition(() => progress.running + batch.length <= plan.maxParallel || !!failure || !!cancelReason);
      if (failure || cancelReason) break;
      if (settlement.capReached) {
        // The spending cap: no new work until the budget is raised or the job is cancelled.
        progress.status = 'paused';
        progress.note = `spent ${String(settlement.spent)} of a budget of ${String(settlement.budget)} wei: raise the budget (raiseBudget) or cancel the job`;
        await condition(() => !settlement.capReached || !!cancelReason || !!failure);
        progress.status = 'running';
        progress.note = null;
        if (failure || cancelReason) break;
      }
      if (workflowInfo().continueAsNewSuggested) {
        rolling = true;
        break;
      }
      // A batch of one (the job's last subtask, or a job smaller than a batch) is a subtask's own workflow.
      pending.push(batch.length > 1 ? launchBatch(batch) : launch(batch[0]));
      next += batch.length;
    }
    await condition(() => progress.running === 0 || !!failure || !!cancelReason);
    if (failure || cancelReason) {
      progress.status = cancelReason ? 'cancelling' : 'running';
      children.cancel();
      await Promise.all(pending);
    }
    if (cancelReason) return await finish('cancelled', cancelReason);
    if (failure) return await finish('failed', failure);
    if (rolling) {
      await settlement.payBeforeRollover();
      await condition(allHandlersFinished);
      return await continueAsNew<typeof jobWorkflow>({
        jobId,
        resume: { plan, nextIndex: next, succeeded: progress.succeeded, seed, ...settlement.carried() },
      });
    }

    progress.status = 'merging';
    const merged = await merger.mergeJob({ jobId });
    return await finish('succeeded', null, merged);
  } catch (e) {
    if (isCancellation(e)) return await finish('cancelled', cancelReason ?? 'workflow cancelled');
    if (e instanceof ApplicationFailure || (e as { cause?: unknown })?.cause instanceof ApplicationFailure) {
      const app = (e instanceof ApplicationFailure ? e : (e as { cause: ApplicationFailure }).cause) as ApplicationFailure;
      return await finish('failed', app.message);
    }
    throw e;
  }
}
