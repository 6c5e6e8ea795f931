/**
 * A provider's policy, applied on the provider's own worker when a proposal arrives: accept,
 * reject with a reason, or counter with its own price. Pure.
 */
import { agreementCapacity, imageAllowed, type Pricing } from './market.js';

export interface ProviderPolicy {
  /** The lowest prices it accepts; a proposal below any of them gets a counter-proposal at the offer's price. */
  minPricing: Pricing;
  offerPricing: Pricing;
  allowedRequestors: string[] | null;
  blockedRequestors: string[];
  allowedImages: string[];
  maxSubtaskSeconds: number;
  maxConcurrentAgreements: number;
}

export interface Proposal {
  agreementId: string;
  requestorId: string;
  jobId: string;
  subtaskIndex: number;
  image: string;
  pricing: Pricing;
  maxDurationSeconds: number;
}

export type Decision =
  | { decision: 'accept' }
  | { decision: 'reject'; reason: string }
  | { decision: 'counter'; pricing: Pricing; reason: string };

/** A decision as the provider sends it: signed with its key (core/identity.ts answerMessage). */
export type SignedDecision = Decision & { signature?: string };

/** What a provider's answer commits to besides accept/reject/counter: the price it counters with. */
export function decisionTerms(d: Decision): unknown {
  return d.decision === 'counter' ? d.pricing : null;
}

/** What the policy says to a proposal, given how many agreements it holds now (running or waiting for a slot). */
export function reviewProposal(policy: ProviderPolicy, p: Proposal, activeAgreements: number): Decision {
  if (policy.blockedRequestors.includes(p.requestorId)) return { decision: 'reject', reason: `requestor ${p.requestorId} is blocked by this provider` };
  if (policy.allowedRequestors && !policy.allowedRequestors.includes(p.requestorId))
    return { decision: 'reject', reason: `requestor ${p.requestorId} is not among the requestors this provider serves` };
  if (!imageAllowed(p.image, policy.allowedImages)) return { decision: 'reject', reason: `image ${p.image} is not allowed here (allowed: ${policy.allowedImages.join(', ')})` };
  if (p.maxDurationSeconds > policy.maxSubtaskSeconds)
    return { decision: 'reject', reason: `subtask may run ${p.maxDurationSeconds} s; this provider takes at most ${policy.maxSubtaskSeconds} s` };
  const limit = agreementCapacity(policy.maxConcurrentAgreements);
  if (activeAgreements >= limit)
    return { decision: 'reject', reason: `busy: ${activeAgreements} agreements open on ${policy.maxConcurrentAgreements} slots (at most ${limit}: one waiting per slot)` };
  const low = (['start', 'cpuSecond', 'envSecond'] as const).filter((k) => p.pricing[k] < policy.minPricing[k]);
  if (low.length) return { decision: 'counter', pricing: policy.offerPricing, reason: `proposed ${low.map((k) => `${k} ${p.pricing[k]}`).join(', ')} is below this provider's lowest price` };
  return { decision: 'accept' };
}
