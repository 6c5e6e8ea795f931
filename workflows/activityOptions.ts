/**
 * Every activity profile the workflows use, each defined once: timeouts and retries say what
 * kind of step it is (bookkeeping, waiting for a provider, a provider's answer or run, a
 * comparison, a merge, a chain write). Changing one changes no command order.
 */
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { FailureType } from '../core/failures.js';
import { QUEUE_WAIT_SECONDS } from '../core/market.js';

/** Bookkeeping on the requestor's own queue: one quick database step, retried until the database answers. */
export const bookkeeping: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: [FailureType.InvalidJobSpec, FailureType.MergeFailed, 'JobNotFound'],
  },
};

/**
 * The same bookkeeping as a local activity, run by the workflow's own worker within its task:
 * no round trip through the server for a quick database step (the subtask workflow's steps).
 */
export const localBookkeeping: LocalActivityOptions = { startToCloseTimeout: bookkeeping.startToCloseTimeout, retry: bookkeeping.retry };

/** Preparing a job: writes a row per subtask (up to 100,000), so it may take longer. */
export const preparing: ActivityOptions = { ...bookkeeping, startToCloseTimeout: '5 minutes' };

/** Merging: a video merge encodes every frame (minutes for long animations); it heartbeats while it works. */
export const merging: ActivityOptions = { ...bookkeeping, startToCloseTimeout: '40 minutes', heartbeatTimeout: '1 minute' };

/** Waiting for a free provider: retried every few seconds until one comes. */
export const waitForProvider: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 1.5, maximumInterval: '5 seconds' },
};

/** How long a provider may take to answer a proposal before it expires. */
export const PROPOSAL_TIMEOUT_SECONDS = 10;

/** A proposal reviewed by the provider's policy on its own queue: quick, one try. */
export function proposalReview(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    scheduleToStartTimeout: `${PROPOSAL_TIMEOUT_SECONDS} seconds`,
    startToCloseTimeout: `${PROPOSAL_TIMEOUT_SECONDS} seconds`,
    retry: { maximumAttempts: 1 },
  };
}

/**
 * How long a chosen provider may take to pick the work up before it counts as gone. A live
 * provider takes a run within milliseconds (its worker has room for every agreement it holds,
 * queued ones included); a run that waits longer was handed to a provider that stopped between
 * approving and polling (more likely since agreements are made ahead of the run).
 */
export const PICKUP_TIMEOUT_SECONDS = 20;

/** A container run on a provider's queue: one try per attempt (the workflow moves it elsewhere), heartbeats prove the provider alive. */
export function containerRun(taskQueue: string, timeoutSeconds: number, heartbeatTimeoutSeconds: number): ActivityOptions {
  return {
    taskQueue,
    scheduleToStartTimeout: `${PICKUP_TIMEOUT_SECONDS} seconds`,
    // The container's own timeout is enforced by the provider; this bound adds room for inputs
    // and outputs, and for waiting behind the provider's busy slots (it gives up before this).
    startToCloseTimeout: `${timeoutSeconds + 300 + QUEUE_WAIT_SECONDS} seconds`,
    heartbeatTimeout: `${heartbeatTimeoutSeconds} seconds`,
    retry: { maximumAttempts: 1 },
  };
}

/** Comparing two results under a tolerance or with the user's comparator container: minutes at most. */
export const comparison: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [FailureType.ComparatorFailed] },
};

/**
 * Chain writes: minutes when a transaction waits for a block or is replaced; retried for as
 * long as the chain is down or the wallet empty (the allocation's note says why), never when
 * the escrow refuses.
 */
export const chainWrite: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  // The activity beats every second: a requestor node that died mid-payment is noticed quickly.
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes: [FailureType.PaymentRefused, FailureType.InvalidJobSpec] },
};
