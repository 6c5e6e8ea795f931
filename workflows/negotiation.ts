/**
 * Negotiation: finding a provider for one attempt of a subtask. Propose to the best eligible
 * offer (the market activity ranks and reserves), ask that provider on its own queue, and record
 * its answer; a provider that rejects or does not answer is passed over for this attempt. With no
 * eligible offer the subtask waits, up to the demand's deadline, for the market to change.
 * Deterministic: workflow APIs and activity types only.
 */
import { isCancellation, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { MarketActivities, ProposeResult } from '../activities/market.js';
import type { ProviderActivities } from '../activities/provider.js';
import { FailureType, GolemflowError } from '../core/failures.js';
import { localBookkeeping, PROPOSAL_TIMEOUT_SECONDS, proposalReview, waitForProvider } from './activityOptions.js';
import type { SubtaskInput, SubtaskState } from './definitions.js';
import type { SignedDecision } from '../core/policy.js';

const market = proxyActivities<MarketActivities>(waitForProvider);
const localMarket = proxyLocalActivities<MarketActivities>(localBookkeeping);

/** An approved agreement: where the attempt runs. */
export type Placement = Extract<ProposeResult, { kind: 'proposed' }>;

/** No offer matched for longer than the demand allows. */
export class NoMatchingOffer extends GolemflowError {
  constructor(message: string) {
    super(FailureType.NoMatchingOffer, message);
  }
}

/** How a negotiation goes (subtask.ts's patches say which, per history). */
export interface NegotiationMode {
  /** The answer is recorded by a local activity (subtask.ts LOCAL_BOOKKEEPING). */
  local: boolean;
  /**
   * The provider reviews the proposal when the run arrives (subtask.ts REVIEW_AT_RUN): the
   * negotiation ends at the proposal, and the run's answer is recorded by recordAnswer.
   */
  reviewAtRun: boolean;
  /** Providers that declined this attempt already: passed over until the market has no one better. */
  declined: string[];
}

/**
 * Proposes to the best eligible provider until one approves (or, reviewing at the run, until
 * one is proposed to). `exclude`: providers that must not get this attempt (they returned a
 * result for the subtask already); `avoid`: providers that failed it, taken only when no one
 * else is left.
 */
export async function negotiate(input: SubtaskInput, attempt: number, copy: number, exclude: string[], avoid: string[], state: SubtaskState, mode: NegotiationMode): Promise<Placement> {
  const { jobId, index } = input;
  const { local, declined } = mode;
  let waitingSince: number | null = null;
  // Whether a look found no offer: the subtask is marked waiting for offers until one places it.
  let markedWaiting = false;
  for (;;) {
    state.phase = 'negotiating';
    const found = await market.proposeAgreement({ jobId, index, attempt, exclude: [...exclude, ...declined], avoid, waited: markedWaiting });
    if (found.kind === 'noMatch') {
      markedWaiting = true;
      state.phase = 'waitingForOffers';
      state.lastFailure = found.explanation;
      waitingSince ??= Date.now();
      const waited = (Date.now() - waitingSince) / 1000;
      if (waited >= input.offerDeadlineSeconds)
        throw new NoMatchingOffer(`no offer matched for ${input.offerDeadlineSeconds} s: ${found.explanation}`);
      // Providers that declined may take the work once the market has nothing better.
      declined.length = 0;
      await sleep(`${Math.min(5, Math.max(1, input.offerDeadlineSeconds - waited))} seconds`);
      continue;
    }
    waitingSince = null;
    state.providerId = found.providerId;
    state.agreementId = found.agreementId;
    if (mode.reviewAtRun) return found;
    let decision;
    try {
      decision = await proxyActivities<ProviderActivities>(proposalReview(found.taskQueue)).reviewProposal(found.proposal);
    } catch (e) {
      if (isCancellation(e)) throw e;
      decision = { decision: 'expired' as const, reason: `provider ${found.providerId} did not answer within ${PROPOSAL_TIMEOUT_SECONDS} s` };
    }
    const outcome = await (local ? localMarket : market).decideAgreement({ agreementId: found.agreementId, copy, decision });
    if (outcome.approved) return found;
    declined.push(found.providerId);
  }
}

/**
 * Records the answer a run brought back (review at the run): the provider's signed answer, or,
 * when none came (it declined nothing, it never took the run or could not reach the market),
 * an expiry. True when the agreement is approved: the run counts as the attempt's.
 */
export async function recordAnswer(placement: Placement, copy: number, answer: SignedDecision | null, why: string): Promise<boolean> {
  const outcome = await localMarket.decideAgreement({ agreementId: placement.agreementId, copy, decision: answerOrExpiry(placement, answer, why) });
  return outcome.approved;
}

/** The provider's answer a run brought back or, when none came, the note that it expired. */
export function answerOrExpiry(placement: Placement, answer: SignedDecision | null, why: string): SignedDecision | { decision: 'expired'; reason: string } {
  return answer ?? { decision: 'expired', reason: `provider ${placement.providerId} did not answer: ${why}` };
}
