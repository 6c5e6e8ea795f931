/**
 * subtaskWorkflow: one subtask's way through the market. Each copy finds a provider
 * (negotiation.ts), runs on that provider's task queue and records its result; on failure (the
 * container failed, the provider went silent or never picked the work up) it tries again on
 * another provider, up to the spec's attempt limit. How many copies, crop checks, tie-breakers
 * and the verdict are verification's to say (core/verification.ts): this workflow feeds it
 * events and performs its actions. Deterministic: it sees activities only through their types.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  proxyActivities,
  condition,
  patched,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type { RequestorActivities } from '../activities/requestor.js';
import type { ProviderActivities } from '../activities/provider.js';
import type { AttemptRecorded, FailureClaim, RunRequest, RunResult } from '../activities/types.js';
import { FailureType, GolemflowError } from '../core/failures.js';
import { exactKey, formatCrops, planCrops, type CopyResult } from '../core/verify.js';
import {
  acceptsLoneResult,
  copyLaunched,
  copySettled,
  cropChecked,
  decide,
  failureOf,
  firstPlacementFailed,
  needsFirstPlacement,
  planCopies,
  startVerification,
  type CopyOutcome,
  type CropOutcome,
  type Verification,
} from '../core/verification.js';
import { seededRandom } from '../core/random.js';
import type { CompareActivities } from '../activities/compare.js';
import type { CompareSpec } from '../core/compare.js';
import { bookkeeping, comparison, containerRun, localBookkeeping, PICKUP_TIMEOUT_SECONDS } from './activityOptions.js';
import { NoMatchingOffer, answerOrExpiry, negotiate, recordAnswer, type Placement } from './negotiation.js';
import type { SignedDecision } from '../core/policy.js';
import { subtaskStateQuery, type SubtaskInput, type SubtaskOutcome, type SubtaskState } from './definitions.js';

const remoteRequestor = proxyActivities<RequestorActivities>(bookkeeping);
const localRequestor = proxyLocalActivities<RequestorActivities>(localBookkeeping);

/** Marks histories whose bookkeeping steps ran as local activities (older ones ran them as ordinary activities). */
export const LOCAL_BOOKKEEPING = 'local-bookkeeping';

/**
 * Marks histories in which the provider reviews a proposal as its run arrives (older ones sent
 * the proposal in an activity of its own first: one more trip through the provider's queue and
 * one more workflow task per attempt, on the path between one container and the next).
 */
export const REVIEW_AT_RUN = 'review-at-run';

/**
 * Marks histories in which the answer a run brought back is recorded by finishAttempt, with the
 * run (older ones recorded it first in a decideAgreement activity of its own: one more local
 * activity, workflow activation and database round trip per attempt).
 */
export const SETTLE_WITH_RESULT = 'settle-with-result';

/**
 * Marks histories in which a lone result that decides alone (core/verification.ts
 * acceptsLoneResult) is accepted by finishAttempt as it is recorded (older ones accepted it in an
 * acceptResult activity of its own, the same verdict one step later).
 */
export const ACCEPT_WITH_RESULT = 'accept-with-result';
const comparer = proxyActivities<CompareActivities>(comparison);

/** A run's end as the workflow saw it: the provider's report, or why there is none. */
type RunOutcome = RunResult | { status: 'failed'; failureType: string; reason: string; claim?: FailureClaim; answer?: SignedDecision };

/** Why an attempt failed when the provider gave no report. */
function describeFailure(e: unknown, providerId: string, heartbeatTimeoutSeconds: number): { failureType: string; reason: string; claim?: FailureClaim; answer?: SignedDecision } {
  const cause = e instanceof ActivityFailure ? e.cause : e;
  if (cause instanceof TimeoutFailure) {
    if (cause.timeoutType === 'HEARTBEAT')
      return { failureType: FailureType.ProviderSilent, reason: `provider ${providerId} stopped heartbeating (no heartbeat for ${heartbeatTimeoutSeconds} s)` };
    if (cause.timeoutType === 'SCHEDULE_TO_START')
      return { failureType: FailureType.ProviderSilent, reason: `provider ${providerId} did not pick the subtask up within ${PICKUP_TIMEOUT_SECONDS} s` };
    return { failureType: FailureType.ProviderTimedOut, reason: `provider ${providerId} did not finish in time` };
  }
  if (cause instanceof ApplicationFailure) {
    // The provider's own word: counted against it only if its key signed it (finishAttempt checks).
    const details = cause.details?.[0] as { signature?: unknown; answer?: SignedDecision } | undefined;
    const signature = details?.signature;
    const failureType = cause.type ?? FailureType.ProviderError;
    return {
      failureType,
      reason: `provider ${providerId}: ${cause.message}`,
      claim: { failureType, message: cause.message, signature: typeof signature === 'string' ? signature : null },
      ...(details?.answer ? { answer: details.answer } : {}),
    };
  }
  return { failureType: FailureType.ProviderError, reason: `provider ${providerId}: ${(cause as Error)?.message ?? String(cause)}` };
}

/** A copy that spent its attempts without a result. */
class CopyFailed extends GolemflowError {
  constructor(message: string, code = FailureType.SubtaskFailed) {
    super(code, message);
  }
}

/** Results that could not be compared (the user's comparator failed): no provider is to blame. */
class ComparisonFailed extends CopyFailed {
  constructor(message: string) {
    super(message, FailureType.ComparatorFailed);
  }
}

export async function subtaskWorkflow(input: SubtaskInput): Promise<SubtaskOutcome> {
  const state = newSubtaskState();
  setHandler(subtaskStateQuery, () => state);
  return subtaskLife(input, state);
}

/** A subtask's state before its first step. */
export function newSubtaskState(): SubtaskState {
  return { attempt: 0, providerId: null, phase: 'scheduling', agreementId: null, lastFailure: null, results: 0, copies: 0 };
}

/**
 * One subtask's whole way through the market, in whichever workflow runs it: its own
 * (subtaskWorkflow) or a batch's, beside other subtasks of its job (batch.ts). `preloaded`: its
 * run request, when the batch loaded it with the others'. Fails with the subtask's failure.
 */
export async function subtaskLife(input: SubtaskInput, state: SubtaskState, preloaded?: Omit<RunRequest, 'attempt' | 'agreementId'>): Promise<SubtaskOutcome> {
  // Loading, recording and accepting are quick database steps on this same worker: as local
  // activities they cost no round trip through the server (histories from before replay as they ran).
  const local = patched(LOCAL_BOOKKEEPING);
  const reviewAtRun = patched(REVIEW_AT_RUN);
  const settleWithResult = reviewAtRun && patched(SETTLE_WITH_RESULT);
  const acceptWithResult = settleWithResult && patched(ACCEPT_WITH_RESULT);
  const requestor = local ? localRequestor : remoteRequestor;
  const { jobId, index, maxAttempts, heartbeatTimeoutSeconds } = input;
  const redundancy = input.redundancy ?? 1;
  const maxExtraRuns = input.maxExtraRuns ?? 0;

  const task = preloaded ?? (await requestor.loadSubtask({ jobId, index }));
  // Providers that failed this subtask, and those that returned a result for it: a new copy
  // goes to neither (a tie-breaker must be a fresh opinion).
  const failedOn: string[] = [];
  const resultFrom: string[] = [];
  let nextAttempt = 1;
  const compare: CompareSpec = input.compare ?? { kind: 'exact' };
  // Results sorted into groups that agree: the first result of each group stands for it.
  const groups: Array<{ key: string; exact: string; attempt: number }> = [];
  let sorting: Promise<unknown> = Promise.resolve();

  /**
   * The group key of a new result: its exact key, unless (under a tolerance or a comparator) it
   * agrees with a group's first result. One result is sorted at a time, so two similar results
   * finishing together cannot found two groups.
   */
  function groupOf(attempt: number, exact: string): Promise<string> {
    const sorted = sorting.then(async () => {
      const same = groups.find((g) => g.exact === exact);
      if (same) return same.key;
      if (compare.kind !== 'exact') {
        for (const g of groups) {
          let verdict;
          try {
            verdict = await comparer.compareResults({ jobId, index, attempt, against: g.attempt, compare });
          } catch (e) {
            if (isCancellation(e)) throw e;
            const cause = e instanceof ActivityFailure && e.cause ? e.cause : e;
            throw new ComparisonFailed(`could not compare results: ${(cause as Error).message}`);
          }
          if (verdict.same) {
            await comparer.setResultKey({ jobId, index, attempt, resultKey: g.key });
            return g.key;
          }
        }
      }
      groups.push({ key: exact, exact, attempt });
      return exact;
    });
    sorting = sorted.catch(() => undefined);
    return sorted;
  }

  /** Runs a request on the provider of a placement; a provider that gives no report is described as a failure. */
  async function runOn(placement: Placement, request: RunRequest): Promise<RunOutcome> {
    state.phase = 'running';
    const provider = proxyActivities<ProviderActivities>(containerRun(placement.taskQueue, request.timeoutSeconds, heartbeatTimeoutSeconds));
    try {
      return await provider.runSubtask(request);
    } catch (e) {
      if (isCancellation(e)) throw e;
      return { status: 'failed', ...describeFailure(e, placement.providerId, heartbeatTimeoutSeconds) };
    }
  }

  /**
   * Places an attempt, runs it and records how it ended. Reviewed at the run (REVIEW_AT_RUN),
   * the run carries its proposal: a provider that declines, never takes the run, or whose answer
   * the market does not approve is passed over and the attempt placed again, costing no attempt
   * (as a declined proposal never did). `first`: a placement made already (adaptive
   * verification's first copy). A crop check's run renders crops, not a result: it has no key.
   */
  async function placeAndRun(
    attempt: number,
    copy: number,
    request: Omit<RunRequest, 'attempt' | 'agreementId'>,
    role: 'copy' | 'cropCheck',
    first?: Placement,
    acceptAlone = false,
  ): Promise<{ placement: Placement; result: RunOutcome; key: string | null; recorded: AttemptRecorded | undefined }> {
    const declined: string[] = [];
    for (;;) {
      const placement = first ?? (await negotiate(input, attempt, copy, resultFrom, failedOn, state, { local, reviewAtRun, declined }));
      first = undefined;
      const started = Date.now();
      const result = await runOn(placement, { ...request, attempt, agreementId: placement.agreementId, ...(reviewAtRun ? { proposal: placement.proposal } : {}) });
      const observedSeconds = (Date.now() - started) / 1000;
      const key = role === 'copy' && result.status === 'succeeded' ? exactKey(result as RunResult) : null;
      const outcome = { jobId, index, attempt, providerId: placement.providerId, result, resultKey: key, ...(role === 'cropCheck' ? { role } : {}), observedSeconds };
      // A run that ended is a fact: it is recorded even when the copy is being stopped (the other
      // copies' verdict came meanwhile). Cancelling the record instead left a workflow task that
      // could not replay once the stopped copy's own run had ended in the same task (a stuck subtask).
      if (settleWithResult) {
        const answer = { agreementId: placement.agreementId, copy, decision: answerOrExpiry(placement, result.answer ?? null, result.reason ?? result.status) };
        const recorded = await CancellationScope.nonCancellable(() => requestor.finishAttempt({ ...outcome, answer, ...(acceptAlone ? { acceptAlone } : {}) }));
        if (recorded?.declined !== undefined) {
          declined.push(placement.providerId);
          continue;
        }
        return { placement, result, key, recorded };
      }
      if (reviewAtRun && !(await recordAnswer(placement, copy, result.answer ?? null, result.reason ?? result.status))) {
        declined.push(placement.providerId);
        continue;
      }
      const recorded = await CancellationScope.nonCancellable(() => requestor.finishAttempt(outcome));
      return { placement, result, key, recorded };
    }
  }

  /** One copy: attempts on one provider after another until one returns a result. */
  async function runCopy(copy: number, first?: { attempt: number; placement: Placement }): Promise<CopyResult> {
    let lastFailure = '';
    for (let tries = 1; tries <= maxAttempts; tries++) {
      const attempt = tries === 1 && first ? first.attempt : nextAttempt++;
      state.attempt = attempt;
      // A report not signed by the provider's key is refused when recorded (nothing comes of it).
      // A copy that decides alone has its valid result accepted as it is recorded.
      const alone = acceptWithResult && acceptsLoneResult(v);
      const { placement, result, key, recorded } = await placeAndRun(attempt, copy, task, 'copy', tries === 1 ? first?.placement : undefined, alone);
      if (recorded?.accepted) acceptedWithResult = { attempt, costWei: recorded.accepted.costWei };
      if (key !== null && !recorded?.refused) {
        resultFrom.push(placement.providerId);
        return { attempt, providerId: placement.providerId, key: await groupOf(attempt, key) };
      }
      lastFailure = recorded?.refused ?? result.reason ?? 'failed';
      state.lastFailure = lastFailure;
      failedOn.push(placement.providerId);
    }
    throw new CopyFailed(`failed after ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'}: ${lastFailure}`);
  }

  const cropRand = seededRandom(((input.seed ?? 0) ^ Math.imul(index + 1, 0x9e3779b1) ^ 0x5eed) >>> 0);

  /**
   * Re-renders a few random crops of a lone result on another provider and compares those
   * pixels (Golem's old Blender verifier did this): far cheaper than a second full copy. A
   * check that cannot run (no PNG, no provider) is skipped with a note, never failing the work.
   */
  async function cropSpotCheck(result: CopyResult): Promise<CropOutcome> {
    const check = input.cropCheck!;
    const size = await comparer.imageSize({ jobId, index, attempt: result.attempt });
    if (!size) {
      await requestor.noteVerification({ jobId, index, step: 'crop', reason: 'crop check skipped: the result has no PNG output' });
      return { kind: 'skipped' };
    }
    const rects = planCrops(size.width, size.height, check.crops, check.size, cropRand);
    const checkTask = await requestor.loadCropCheck({ jobId, index, crops: formatCrops(rects) });
    const tolerance = compare.kind === 'image' ? compare : { pixelThreshold: 0, maxDiffRatio: 0, minPsnr: null };
    let lastFailure = '';
    for (let tries = 1; tries <= maxAttempts; tries++) {
      const attempt = nextAttempt++;
      let ran;
      try {
        ran = await placeAndRun(attempt, 1, checkTask, 'cropCheck');
      } catch (e) {
        if (!(e instanceof NoMatchingOffer)) throw e;
        lastFailure = e.message;
        break;
      }
      const { placement, result: run, recorded } = ran;
      if (run.status === 'succeeded' && !recorded?.refused) {
        const verdict = await comparer.compareCrops({ jobId, index, attempt, against: result.attempt, rects, tolerance });
        await requestor.noteVerification({
          jobId,
          index,
          step: 'crop',
          reason: `crop check of ${result.providerId}'s result by ${placement.providerId} (attempt ${attempt}, crops ${formatCrops(rects)}): ${verdict.same ? 'agrees' : 'disagrees'}: ${verdict.detail}`,
        });
        // The checker rendered crops, not a result: it may still run a full copy if the result is in doubt.
        return { kind: verdict.same ? 'agreed' : 'disagreed', attempt };
      }
      lastFailure = recorded?.refused ?? run.reason ?? 'failed';
      failedOn.push(placement.providerId);
    }
    await requestor.noteVerification({ jobId, index, step: 'crop', reason: `crop check skipped: ${lastFailure}` });
    return { kind: 'skipped' };
  }

  const copies = new CancellationScope();
  const rules = { redundancy, maxExtraRuns };
  // What verification knows and asks for (core/verification.ts): this workflow only feeds it
  // events (a copy launched or settled, a crop check's verdict) and performs its actions.
  let v: Verification = startVerification(rules, { needed: redundancy, cropCheckDue: false });
  // A lone result finishAttempt accepted as it recorded it (ACCEPT_WITH_RESULT), and at what cost.
  let acceptedWithResult: { attempt: number; costWei: string } | null = null;
  const pending: Promise<void>[] = [];
  const launch = (first?: { attempt: number; placement: Placement }) => {
    const copy = v.launched;
    v = copyLaunched(v);
    state.copies = v.launched;
    pending.push(
      copies
        .run(() => runCopy(copy, first))
        .then(
          (r): CopyOutcome => ({ kind: 'result', result: r }),
          (e): CopyOutcome => {
            if (e instanceof NoMatchingOffer) return { kind: 'noMatch', reason: e.message };
            if (e instanceof CopyFailed) return { kind: 'failed', reason: e.message };
            if (isCancellation(e)) return { kind: 'cancelled' };
            return { kind: 'failed', reason: (e as Error)?.message ?? String(e) };
          },
        )
        .then((outcome) => {
          v = copySettled(v, outcome);
          state.results = v.results.length;
        }),
    );
  };

  const stopCopies = async () => {
    copies.cancel();
    await Promise.all(pending);
  };

  try {
    let first: { attempt: number; placement: Placement } | undefined;
    const rand = seededRandom(((input.seed ?? 0) + Math.imul(index + 1, 2654435761)) >>> 0);
    const verification = { redundancy, adaptive: input.adaptive ?? null, cropCheck: input.cropCheck ?? null, seed: input.seed };
    let track: { providerId: string; accepted: number; reputation: number } | null = null;
    if (needsFirstPlacement(verification)) {
      // The first copy's provider decides how many copies: negotiate it, then plan.
      const attempt = nextAttempt++;
      const placement = await copies.run(() => negotiate(input, attempt, 0, resultFrom, failedOn, state, { local, reviewAtRun, declined: [] }));
      track = { providerId: placement.providerId, ...placement.track };
      first = { attempt, placement };
    }
    const plan = planCopies(verification, rand, track);
    v = startVerification(rules, plan);
    for (const note of plan.notes) await requestor.noteVerification({ jobId, index, ...(note.step ? { step: note.step } : {}), reason: note.reason });
    launch(first);
    for (let i = 1; i < v.needed; i++) launch();
    let seen = 0;
    for (;;) {
      await condition(() => v.settled > seen);
      seen = v.settled;
      let step = decide(v);
      v = step.state;
      if (step.action.kind === 'cropCheck') {
        const lone = step.action.of;
        const check = await copies.run(() => cropSpotCheck(lone));
        step = cropChecked(v, check);
        v = step.state;
      }
      const action = step.action;
      if (action.kind === 'launch') {
        // More copies: a tie-breaker on a provider that has not answered yet, or full copies once a crop check doubts.
        for (let i = 0; i < action.copies; i++) launch();
        continue;
      }
      if (action.kind === 'accept') {
        // Copies still out when the verdict came are stopped; one may still be placing.
        const copiesStopped = v.settled < v.launched;
        if (action.stopCopies) await stopCopies();
        state.phase = 'done';
        // A lone result accepted as it was recorded is this very verdict: nothing is left to do.
        // (Set inside runCopy: the compiler cannot see that here.)
        const lone = acceptedWithResult as { attempt: number; costWei: string } | null;
        const already = lone && action.rejected.length === 0 && action.accepted.length === 1 && action.accepted[0] === lone.attempt ? lone : null;
        const invoiced = already ?? (await requestor.acceptResult({ jobId, index, accepted: action.accepted, rejected: action.rejected, votes: action.votes, copiesStopped }));
        // Results recorded before invoices existed return nothing: nothing is owed.
        return { index, providerId: action.providerId, attempts: nextAttempt - 1, costWei: invoiced?.costWei ?? '0' };
      }
      if (action.kind === 'fail') {
        if (action.stopCopies) await stopCopies();
        break;
      }
    }
  } catch (e) {
    if (isCancellation(e)) {
      await CancellationScope.nonCancellable(async () => {
        await stopCopies();
        await requestor.endSubtask({ jobId, index, status: 'cancelled', reason: 'job cancelled' });
      });
      throw e;
    }
    // The first copy's negotiation (adaptive verification) found no offer in time.
    if (!(e instanceof NoMatchingOffer)) throw e;
    v = firstPlacementFailed(v, e.message);
  }

  state.phase = 'failed';
  const failure = failureOf(v, index);
  await requestor.endSubtask({ jobId, index, status: 'failed', reason: failure.reason, ...(failure.votes ? { votes: failure.votes } : {}) });
  throw ApplicationFailure.nonRetryable(failure.reason, failure.failureType);
}
