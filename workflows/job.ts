/**
 * jobWorkflow: a job's whole life. Prepare (validate, split into subtask rows), run one child
 * subtaskWorkflow per subtask with a cap on children in flight, merge, finish. Cancel is a
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
  defineQuery,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { RequestorActivities } from '../activities/requestor.js';
import type { JobPlan } from '../activities/types.js';
import { FailureType } from '../core/failures.js';
import { subtaskWorkflow } from './subtask.js';

/** Bookkeeping on the requestor's own queue: quick, retried until the database answers. */
const bookkeeping: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: [FailureType.InvalidJobSpec, FailureType.MergeFailed, 'JobNotFound'],
  },
};
const requestor = proxyActivities<RequestorActivities>(bookkeeping);

export interface JobInput {
  jobId: string;
  /** Set when the workflow continues as new. */
  resume?: { plan: JobPlan; nextIndex: number; succeeded: number; seed: number };
}

export interface JobProgress {
  status: 'preparing' | 'running' | 'merging' | 'succeeded' | 'failed' | 'cancelling' | 'cancelled';
  total: number;
  started: number;
  running: number;
  succeeded: number;
  failed: number;
  error: string | null;
}

export interface JobOutcome {
  status: 'succeeded' | 'failed' | 'cancelled';
  value: string | null;
  ref: string | null;
  error: string | null;
}

export const progressQuery = defineQuery<JobProgress>('progress');
export const cancelSignal = defineSignal<[reason?: string]>('cancel');

export function subtaskWorkflowId(jobId: string, index: number): string {
  return `${jobId}/subtask-${index}`;
}

export async function jobWorkflow(input: JobInput): Promise<JobOutcome> {
  const { jobId } = input;
  const progress: JobProgress = {
    status: 'preparing',
    total: input.resume?.plan.subtaskCount ?? 0,
    started: input.resume?.nextIndex ?? 0,
    running: 0,
    succeeded: input.resume?.succeeded ?? 0,
    failed: 0,
    error: null,
  };
  let cancelReason: string | null = null;
  setHandler(progressQuery, () => progress);
  setHandler(cancelSignal, (reason?: string) => {
    cancelReason ??= reason || 'cancelled by the requestor';
  });

  const finish = async (status: JobOutcome['status'], error: string | null, result = { value: null as string | null, ref: null as string | null }) => {
    await CancellationScope.nonCancellable(() => requestor.finishJob({ jobId, status, error: error ?? undefined }));
    progress.status = status;
    progress.error = error;
    return { status, error, ...result };
  };

  try {
    const plan = input.resume?.plan ?? (await requestor.prepareJob({ jobId }));
    // Drawn once per job (workflow randomness replays), handed to each subtask in its recorded input.
    const seed = input.resume?.seed ?? Math.floor(Math.random() * 2 ** 31);
    progress.total = plan.subtaskCount;
    progress.status = 'running';

    const children = new CancellationScope();
    let failure: string | null = null;
    let next = input.resume?.nextIndex ?? 0;
    let rolling = false;

    const launch = (index: number) =>
      children.run(async () => {
        progress.started++;
        progress.running++;
        try {
          const handle = await startChild(subtaskWorkflow, {
            workflowId: subtaskWorkflowId(jobId, index),
            args: [{ jobId, index, maxAttempts: plan.maxAttempts, heartbeatTimeoutSeconds: plan.heartbeatTimeoutSeconds, offerDeadlineSeconds: plan.offerDeadlineSeconds, redundancy: plan.redundancy, maxExtraRuns: plan.maxExtraRuns, adaptive: plan.adaptive, compare: plan.compare, cropCheck: plan.cropCheck, seed }],
            parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          });
          await handle.result();
          progress.succeeded++;
        } catch (e) {
          if (!isCancellation(e)) {
            progress.failed++;
            const cause = e instanceof ChildWorkflowFailure ? e.cause : e;
            failure ??= (cause as Error)?.message ?? `subtask ${index} failed`;
          }
        } finally {
          progress.running--;
        }
      });

    const pending: Promise<void>[] = [];
    while (next < plan.subtaskCount && !failure && !cancelReason) {
      await condition(() => progress.running < plan.maxParallel || !!failure || !!cancelReason);
      if (failure || cancelReason) break;
      if (workflowInfo().continueAsNewSuggested) {
        rolling = true;
        break;
      }
      pending.push(launch(next++));
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
      await condition(allHandlersFinished);
      return await continueAsNew<typeof jobWorkflow>({ jobId, resume: { plan, nextIndex: next, succeeded: progress.succeeded, seed } });
    }

    progress.status = 'merging';
    const merged = await requestor.mergeJob({ jobId });
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
