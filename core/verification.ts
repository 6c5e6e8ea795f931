/**
 * One subtask's verification as a state machine: how many copies to run, when a crop check
 * stands in for a copy, when a tie-breaker is due, and when a result is accepted or the subtask
 * fails. Events come in (a copy was launched, a copy settled, a crop check answered); actions
 * go out (wait, launch copies, run a crop check, accept with votes, fail with evidence). The
 * workflow (workflows/subtask.ts) only feeds it events and performs its actions, so every rule
 * here is unit-tested in milliseconds, without Temporal, Docker or a database.
 *
 * Pure and deterministic: no I/O, no clock; random draws come from the caller's seeded source.
 */
import { FailureType } from './failures.js';
import { formatDraw, judge, planVerification, tally, type AdaptivePolicy, type CopyResult } from './verify.js';

export interface VerificationRules {
  /** Copies that must agree by majority when no provider is trusted. */
  redundancy: number;
  /** Tie-breakers allowed beyond the copies needed. */
  maxExtraRuns: number;
}

export interface Verification {
  rules: VerificationRules;
  /** Copies the current plan needs: the redundancy, fewer under adaptive trust, more once a crop check doubts. */
  needed: number;
  launched: number;
  settled: number;
  /** Results in the order they came. */
  results: CopyResult[];
  /** A crop check is to run on the lone result before it is accepted. */
  cropCheckDue: boolean;
  /** The crop-check attempt that found the lone result wrong: right if that result then loses. */
  doubtedBy: number | null;
  /** The first copy that spent its attempts without a result. */
  copyFailure: string | null;
  /** No offer matched in time. */
  noMatch: string | null;
}

export type CopyOutcome = { kind: 'result'; result: CopyResult } | { kind: 'failed'; reason: string } | { kind: 'noMatch'; reason: string } | { kind: 'cancelled' };

export type CropOutcome = { kind: 'agreed' | 'disagreed'; attempt: number } | { kind: 'skipped' };

export type Votes = Record<string, number>;

export type VerificationAction =
  | { kind: 'wait' }
  | { kind: 'launch'; copies: number }
  | { kind: 'cropCheck'; of: CopyResult }
  | { kind: 'accept'; providerId: string; accepted: number[]; rejected: number[]; votes: Votes; stopCopies: boolean }
  | { kind: 'fail'; stopCopies: boolean };

/** A step: the state after it and what the workflow must do. */
export interface Step {
  state: Verification;
  action: VerificationAction;
}

/** What the subtask's spec says about verification. */
export interface VerificationInput {
  redundancy: number;
  adaptive: AdaptivePolicy | null;
  cropCheck: { rate: number } | null;
  seed: number | undefined;
}

/** A note for the subtask's record of why it ran as it did (noteVerification). */
export interface VerificationNote {
  step?: 'crop-draw';
  reason: string;
}

/** Adaptive verification decides by the first copy's provider: negotiate it before planning. */
export function needsFirstPlacement(input: VerificationInput): boolean {
  return !!input.adaptive && input.redundancy > 1;
}

/**
 * How many copies to launch and whether a crop check is due, with the notes that explain it.
 * Always draws twice for the adaptive plan (used or not) and once more for a crop check on a
 * lone result, so the same seed gives the same draws whatever the job's settings.
 */
export function planCopies(
  input: VerificationInput,
  rand: () => number,
  first: { providerId: string; accepted: number; reputation: number } | null,
): { needed: number; cropCheckDue: boolean; notes: VerificationNote[] } {
  let needed = input.redundancy;
  let cropCheckDue = false;
  const notes: VerificationNote[] = [];
  if (needsFirstPlacement(input)) {
    if (!first) throw new Error('adaptive verification plans after the first copy is placed');
    const draws = { solo: rand(), spot: rand() };
    const plan = planVerification(input.redundancy, input.adaptive, first, draws);
    needed = plan.copies;
    let reason = plan.reason;
    if (plan.spotCheck && input.cropCheck) {
      needed = 1;
      cropCheckDue = true;
      reason += ', as a crop check';
    }
    notes.push({ reason: `seed ${input.seed}, draws solo ${formatDraw(draws.solo)} spot ${formatDraw(draws.spot)}: ${reason}` });
  } else {
    rand();
    rand();
  }
  if (input.cropCheck && needed === 1 && !cropCheckDue) {
    const draw = rand();
    cropCheckDue = draw < input.cropCheck.rate;
    notes.push({
      step: 'crop-draw',
      reason: `seed ${input.seed}, crop draw ${formatDraw(draw)}: ${cropCheckDue ? `crop check (draw < ${input.cropCheck.rate})` : `no crop check (draw >= ${input.cropCheck.rate})`}`,
    });
  }
  return { needed, cropCheckDue, notes };
}

export function startVerification(rules: VerificationRules, plan: { needed: number; cropCheckDue: boolean }): Verification {
  return { rules, needed: plan.needed, launched: 0, settled: 0, results: [], cropCheckDue: plan.cropCheckDue, doubtedBy: null, copyFailure: null, noMatch: null };
}

export function copyLaunched(s: Verification): Verification {
  return { ...s, launched: s.launched + 1 };
}

export function copySettled(s: Verification, outcome: CopyOutcome): Verification {
  const next = { ...s, settled: s.settled + 1 };
  if (outcome.kind === 'result') next.results = [...s.results, outcome.result];
  else if (outcome.kind === 'failed') next.copyFailure ??= outcome.reason;
  else if (outcome.kind === 'noMatch') next.noMatch ??= outcome.reason;
  return next;
}

/** The first copy's own negotiation found no offer in time: nothing was launched. */
export function firstPlacementFailed(s: Verification, reason: string): Verification {
  return { ...s, noMatch: s.noMatch ?? reason };
}

/** What to do now that copies have settled. */
export function decide(s: Verification): Step {
  const judgement = judge(s.results, s.needed);
  if (judgement.verdict === 'accepted' && s.cropCheckDue && s.launched === 1) return { state: { ...s, cropCheckDue: false }, action: { kind: 'cropCheck', of: judgement.agreeing[0] } };
  if (judgement.verdict === 'accepted') {
    // A crop check that doubted the lone result was right if that result lost, wrong if it won.
    const lone = s.results[0]?.attempt;
    const doubt = s.doubtedBy;
    const checkRight = doubt !== null && judgement.disagreeing.some((r) => r.attempt === lone);
    return {
      state: s,
      action: {
        kind: 'accept',
        providerId: judgement.agreeing[0].providerId,
        accepted: [...judgement.agreeing.map((r) => r.attempt), ...(doubt !== null && checkRight ? [doubt] : [])],
        rejected: [...judgement.disagreeing.map((r) => r.attempt), ...(doubt !== null && !checkRight ? [doubt] : [])],
        votes: tally(s.results),
        stopCopies: true,
      },
    };
  }
  if (s.noMatch || s.copyFailure) return { state: s, action: { kind: 'fail', stopCopies: true } };
  if (s.settled === s.launched) {
    // A tie-breaker on a provider that has not answered yet, while the spec allows one.
    if (s.launched - s.needed < s.rules.maxExtraRuns) return { state: s, action: { kind: 'launch', copies: 1 } };
    return { state: s, action: { kind: 'fail', stopCopies: false } };
  }
  return { state: s, action: { kind: 'wait' } };
}

/**
 * Whether the one copy out decides alone: one copy needed, no crop check due, no other copy
 * launched or settled. Its result, if valid, is then accepted as it is (decide: accepted [its
 * attempt], rejected none, one vote for its key), so the workflow has it accepted in the same
 * step that records it (workflows/subtask.ts ACCEPT_WITH_RESULT).
 */
export function acceptsLoneResult(s: Verification): boolean {
  return s.needed === 1 && s.launched === 1 && s.settled === 0 && s.results.length === 0 && !s.cropCheckDue && s.doubtedBy === null;
}

/** What to do after the crop check of the lone result. */
export function cropChecked(s: Verification, outcome: CropOutcome): Step {
  if (outcome.kind === 'disagreed') {
    // The lone result is in doubt: settle it with full copies and a majority, as without trust.
    const needed = Math.max(2, s.rules.redundancy);
    return { state: { ...s, doubtedBy: outcome.attempt, needed }, action: { kind: 'launch', copies: Math.max(0, needed - s.launched) } };
  }
  if (outcome.kind === 'agreed') {
    const lone = judge(s.results, s.needed);
    if (lone.verdict !== 'accepted') throw new Error('a crop check agreed with a result that was not accepted');
    // The checker rendered crops, not a result: it agrees, and both are accepted.
    return { state: s, action: { kind: 'accept', providerId: lone.agreeing[0].providerId, accepted: [lone.agreeing[0].attempt, outcome.attempt], rejected: [], votes: tally(s.results), stopCopies: false } };
  }
  // No check could run: the lone result stands as it would without one.
  return decide(s);
}

/** Short words for a result key in evidence: the first characters of each blob hash. */
export function shortKey(key: string): string {
  return key
    .split('\n')
    .map((part) => part.replace(/sha256:([0-9a-f]{12})[0-9a-f]+/, 'sha256:$1…'))
    .join(', ');
}

/** Why the subtask failed, in the words its record and its job show, and the failure's one name. */
export function failureOf(s: Verification, index: number): { failureType: FailureType; reason: string; votes?: Votes } {
  if (s.noMatch) return { failureType: FailureType.NoMatchingOffer, reason: `subtask ${index}: ${s.noMatch}` };
  if (s.copyFailure) return { failureType: FailureType.SubtaskFailed, reason: `subtask ${index} ${s.copyFailure}`, votes: tally(s.results) };
  const groups = new Map<string, string[]>();
  for (const r of s.results) groups.set(r.key, [...(groups.get(r.key) ?? []), r.providerId]);
  const evidence = [...groups].map(([key, who]) => `[${who.join(', ')}] ${shortKey(key)}`).join('; ');
  return { failureType: FailureType.NoQuorum, reason: `subtask ${index}: no result had a majority after ${s.results.length} runs: ${evidence}`, votes: tally(s.results) };
}
