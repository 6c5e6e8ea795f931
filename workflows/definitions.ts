/**
 * What the workflows share with their callers (the API, the sweeper, tests), as Temporal's
 * samples keep a shared definitions module: inputs and outcomes, queries, signals, updates and
 * workflow ids. The API names them by these objects, never by strings. No workflow code here.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { JobPlan } from '../activities/types.js';
import type { CompareSpec } from '../core/compare.js';
import type { AdaptivePolicy } from '../core/verify.js';

/** A subtask's workflow id; a job's workflow id is the job id. */
export function subtaskWorkflowId(jobId: string, index: number): string {
  return `${jobId}/subtask-${index}`;
}

/** The workflow id of a batch of a job's subtasks, first to last (workflows/batch.ts). */
export function batchWorkflowId(jobId: string, first: number, last: number): string {
  return `${jobId}/subtasks-${first}-${last}`;
}

// The job's search attributes, shared with the API and the node that registers them.
export { JOB_NAME, JOB_REQUESTOR, JOB_SEARCH_ATTRIBUTES, JOB_STATUS } from '../core/jobSearch.js';

export interface JobInput {
  jobId: string;
  /** Set when the workflow continues as new. */
  resume?: { plan: JobPlan; nextIndex: number; succeeded: number; seed: number; spentWei?: string; budgetWei?: string | null; raises?: number };
}

export interface JobProgress {
  status: 'preparing' | 'running' | 'paused' | 'merging' | 'succeeded' | 'failed' | 'cancelling' | 'cancelled';
  total: number;
  started: number;
  running: number;
  succeeded: number;
  failed: number;
  error: string | null;
  /** Paid jobs: the budget and what accepted results cost so far, wei as decimal text. */
  budgetWei: string | null;
  spentWei: string;
  /** Why the job is paused, when it is. */
  note: string | null;
}

export interface JobOutcome {
  status: 'succeeded' | 'failed' | 'cancelled';
  value: string | null;
  ref: string | null;
  error: string | null;
}

export const progressQuery = defineQuery<JobProgress>('progress');
export const cancelSignal = defineSignal<[reason?: string]>('cancel');
/** Raises a paid job's budget by an amount of GLM; a job paused at its cap goes on. */
export const raiseBudgetUpdate = defineUpdate<{ budgetWei: string }, [amount: string]>('raiseBudget');

export interface SubtaskInput {
  jobId: string;
  index: number;
  maxAttempts: number;
  heartbeatTimeoutSeconds: number;
  /** How long to wait for a matching offer before giving up. */
  offerDeadlineSeconds: number;
  /** Copies run on different providers and compared (1: no comparison). */
  redundancy?: number;
  /** Tie-breaking copies allowed when the copies disagree. */
  maxExtraRuns?: number;
  /** Adaptive verification: trusted providers may work alone (null: always `redundancy` copies). */
  adaptive?: AdaptivePolicy | null;
  /** The job's seed for the adaptive draws, recorded here so an audit can replay them. */
  seed?: number;
  /** How copies' results are compared (default: exactly). */
  compare?: CompareSpec;
  /** Crop spot checks of lone image results. */
  cropCheck?: { crops: number; size: number; rate: number } | null;
}

export interface SubtaskOutcome {
  index: number;
  providerId: string;
  attempts: number;
  /** What its accepted results cost, wei as decimal text ('0' when the job does not pay). */
  costWei?: string;
}

export interface SubtaskState {
  attempt: number;
  providerId: string | null;
  phase: 'scheduling' | 'negotiating' | 'waitingForOffers' | 'running' | 'done' | 'failed';
  agreementId: string | null;
  lastFailure: string | null;
  copies: number;
  results: number;
}

export const subtaskStateQuery = defineQuery<SubtaskState>('subtaskState');

/** A batch of a job's subtasks run in one workflow (workflows/batch.ts): what each needs, and which. */
export interface BatchInput {
  /** Every subtask's input but its index. */
  subtask: Omit<SubtaskInput, 'index'>;
  /** The subtasks' indexes. */
  indexes: number[];
}

/** How each subtask of a batch ended; a subtask the batch stopped (another failed, or the job was cancelled) is `stopped`. */
export type BatchEntry = ({ kind: 'succeeded' } & SubtaskOutcome) | { kind: 'failed'; index: number; reason: string } | { kind: 'stopped'; index: number };

export interface BatchOutcome {
  subtasks: BatchEntry[];
}

/** The state of each subtask of a batch, by index. */
export const batchStateQuery = defineQuery<Record<number, SubtaskState>>('batchState');
