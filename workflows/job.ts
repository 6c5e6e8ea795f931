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
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  allHandlersFinished,
  patched,
} from '@temporalio/workflow';
import type { RequestorActivities } from '../activities/requestor.js';
import type { PaymentActivities } from '../activities/payments.js';
import type { JobPlan } from '../activities/types.js';
import { subtaskWorkflow } from './subtask.js';
import { FailureType } from '../core/failures.js';
import { glmAmountProblem } from '../core/glm.js';
import { bookkeeping, chainWrite, merging, preparing } from './activityOptions.js';
import { cancelSignal, progressQuery, raiseBudgetUpdate, subtaskWorkflowId, type JobInput, type JobOutcome, type JobProgress } from './definitions.js';

const requestor = proxyActivities<RequestorActivities>(bookkeeping);
const preparer = proxyActivities<RequestorActivities>(preparing);
const merger = proxyActivities<RequestorActivities>(merging);
const payments = proxyActivities<PaymentActivities>(chainWrite);

/** Marks histories in which a cancel can end a budget lock that waits (patched() keeps older ones replaying). */
const CANCELLABLE_LOCK = 'cancellable-budget-lock';

/** Accepted results paid together in one transaction, at most this many seconds after the first. */
const SETTLE_BATCH = 10;
const SETTLE_EVERY = '15 seconds';



/** Marks histories in which a failed job's workflow fails (older ones completed with status failed). */
const FAILED_JOBS_FAIL = 'failed-jobs-fail';

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
  let budget: bigint | null = input.resume?.budgetWei ? BigInt(input.resume.budgetWei) : null;
  let spent = BigInt(input.resume?.spentWei ?? '0');
  let raises = input.resume?.raises ?? 0;
  let unsettled = 0;
  let stopSettling = false;
  setHandler(
    raiseBudgetUpdate,
    async (amount: string) => {
      const r = await payments.increaseBudget({ jobId, amount, step: String(raises++) });
      budget = BigInt(r.lockedWei);
      progress.budgetWei = r.lockedWei;
      return { budgetWei: r.lockedWei };
    },
    {
      validator: (amount: string) => {
        if (budget === null) throw new Error(`job ${jobId} has no budget to raise (it pays no one)`);
        if (glmAmountProblem(amount)) throw new Error(`amount: ${JSON.stringify(amount)} is not a positive amount of GLM (a decimal such as 2.5)`);
      },
    },
  );

  /** Pays accepted results in batches while the job runs. */
  const settler = async () => {
    while (!stopSettling) {
      await condition(() => unsettled >= SETTLE_BATCH || stopSettling, SETTLE_EVERY);
      if (unsettled > 0 && !stopSettling) {
        unsettled = 0;
        await payments.settlePayments({ jobId });
      }
    }
  };
  let settling: Promise<void> | null = null;

  /** At the end, whatever happened: pay every accepted result the budget covers, return the rest. */
  const settleAll = async () => {
    if (budget === null) return;
    stopSettling = true;
    await settling;
    const r = await payments.settlePayments({ jobId });
    if (r.overBudget > 0 && !cancelReason) {
      progress.status = 'paused';
      progress.note = `${r.overBudget} accepted results wait for payment: the budget is spent; raise it (raiseBudget) or cancel the job`;
      const before = budget;
      await condition(() => budget !== before || !!cancelReason);
      progress.note = null;
      return settleAll();
    }
    await payments.closeAllocation({ jobId });
  };
  let cancelReason: string | null = null;
  setHandler(progressQuery, () => progress);
  setHandler(cancelSignal, (reason?: string) => {
    cancelReason ??= reason || 'cancelled by the requestor';
  });

  const finish = async (status: JobOutcome['status'], error: string | null, result = { value: null as string | null, ref: null as string | null }) => {
    // Accepted results are paid whether the job succeeds, fails or is cancelled.
    await CancellationScope.nonCancellable(settleAll);
    await CancellationScope.nonCancellable(() => requestor.finishJob({ jobId, status, error: error ?? undefined }));
    progress.status = status;
    progress.error = error;
    return { status, error, ...result };
  };

  try {
    const plan = input.resume?.plan ?? (await preparer.prepareJob({ jobId }));
    // Drawn once per job (workflow randomness replays), handed to each subtask in its recorded input.
    const seed = input.resume?.seed ?? Math.floor(Math.random() * 2 ** 31);
    progress.total = plan.subtaskCount;
    if (plan.budgetWei && budget === null) {
      budget = BigInt(plan.budgetWei);
      progress.budgetWei = plan.budgetWei;
      if (patched(CANCELLABLE_LOCK)) {
        // The lock may wait long (the chain down, the wallet short): a cancel ends the wait.
        const lock = new CancellationScope();
        const locking = lock.run(() => payments.lockBudget({ jobId }));
        const first = await Promise.race([locking.then(() => 'locked' as const), condition(() => !!cancelReason).then(() => 'cancelled' as const)]);
        if (first === 'cancelled') {
          lock.cancel();
          await locking.catch(() => undefined);
          await CancellationScope.nonCancellable(() => payments.abandonLock({ jobId }));
          // Nothing was locked, so nothing is settled.
          budget = null;
          progress.budgetWei = null;
          return await finish('cancelled', cancelReason);
        }
      } else {
        await payments.lockBudget({ jobId });
      }
    }
    if (budget !== null) settling = CancellationScope.nonCancellable(settler);
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
          const outcome = await handle.result();
          progress.succeeded++;
          const cost = BigInt(outcome?.costWei ?? '0');
          if (cost > 0n) {
            spent += cost;
            progress.spentWei = String(spent);
            unsettled++;
          }
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
      if (budget !== null && spent >= budget) {
        // The spending cap: no new work until the budget is raised or the job is cancelled.
        progress.status = 'paused';
        progress.note = `spent ${String(spent)} of a budget of ${String(budget)} wei: raise the budget (raiseBudget) or cancel the job`;
        await condition(() => (budget !== null && spent < budget) || !!cancelReason || !!failure);
        progress.status = 'running';
        progress.note = null;
        if (failure || cancelReason) break;
      }
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
      stopSettling = true;
      await settling;
      if (unsettled > 0) await payments.settlePayments({ jobId });
      await condition(allHandlersFinished);
      return await continueAsNew<typeof jobWorkflow>({
        jobId,
        resume: { plan, nextIndex: next, succeeded: progress.succeeded, seed, spentWei: String(spent), budgetWei: budget === null ? null : String(budget), raises },
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
