/**
 * How a job's subtasks are grouped into workflows. A workflow per subtask costs Temporal a new
 * execution, and the job's workflow two more activations, for every subtask: at 200 short
 * subtasks on two cores that was a large share of the control plane's CPU. A batch runs several
 * subtasks side by side in one workflow (workflows/batch.ts), each with its own attempts,
 * agreements, verification and payment as before. Pure: the job's workflow asks.
 */

/** The most subtasks one workflow runs. */
export const MAX_BATCH = 10;

/**
 * A batch counts against the job's maxParallel until its last subtask ends: at most an eighth
 * of the cap, so a slow subtask holds back few places the others freed.
 */
export const BATCH_SHARE_OF_PARALLEL = 8;

/**
 * Longest wait for offers (offerDeadlineSeconds) under which subtasks are batched. A subtask
 * that finds no offer looks again every few seconds, and each look adds to its workflow's
 * history: a batch's history grows as fast as all its subtasks' together, and Temporal ends a
 * workflow whose history grows past its limit. Ten subtasks looking for ten minutes stay far under it.
 */
export const MAX_BATCHED_OFFER_DEADLINE_SECONDS = 600;

/** How many subtasks share a workflow for a job with these limits (1: a workflow each). */
export function batchSize(plan: { maxParallel: number; offerDeadlineSeconds: number }): number {
  if (plan.offerDeadlineSeconds > MAX_BATCHED_OFFER_DEADLINE_SECONDS) return 1;
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(plan.maxParallel / BATCH_SHARE_OF_PARALLEL)));
}

/** The indexes of the batch that starts at `first`: `size` of them, or fewer at the job's end. */
export function batchAt(first: number, size: number, subtaskCount: number): number[] {
  const last = Math.min(first + size, subtaskCount);
  return Array.from({ length: Math.max(0, last - first) }, (_, i) => first + i);
}
