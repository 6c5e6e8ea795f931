/**
 * The verification state machine (core/verification.ts) driven as the subtask workflow drives
 * it, with scripted copies: quorum, tie-breakers, failures, crop checks that agree, doubt or
 * cannot run, and adaptive plans. No services; each case runs in well under a millisecond.
 */
import { describe, expect, it } from 'vitest';
import {
  acceptsLoneResult,
  copyLaunched,
  copySettled,
  cropChecked,
  decide,
  failureOf,
  firstPlacementFailed,
  planCopies,
  startVerification,
  type CropOutcome,
  type Verification,
  type VerificationAction,
  type VerificationRules,
} from '../../core/verification.js';
import { seededRandom } from '../../core/random.js';

/** A copy's scripted end: its result key, a failure, no offer, or cancellation. */
type Script = { key: string; provider?: string } | { failed: string } | { noMatch: string } | 'cancelled';

/**
 * Runs the machine as the workflow does: launches what it asks, settles copies one at a time in
 * launch order, answers crop checks from `crops`. Copy n (from 1) is attempt n, on provider pn.
 */
function simulate(rules: VerificationRules, plan: { needed: number; cropCheckDue: boolean }, copies: Script[], crops: CropOutcome[] = []) {
  let s: Verification = startVerification(rules, plan);
  const actions: VerificationAction[] = [];
  const inFlight: Array<{ attempt: number; script: Script }> = [];
  let launched = 0;
  const launch = (n: number) => {
    for (let i = 0; i < n; i++) {
      s = copyLaunched(s);
      launched++;
      inFlight.push({ attempt: launched, script: copies[launched - 1] ?? 'cancelled' });
    }
  };
  launch(plan.needed);
  for (let guard = 0; guard < 50; guard++) {
    const next = inFlight.shift();
    if (!next) throw new Error(`the machine waits with nothing in flight after ${JSON.stringify(actions)}`);
    const { attempt, script } = next;
    s = copySettled(
      s,
      script === 'cancelled'
        ? { kind: 'cancelled' }
        : 'key' in script
          ? { kind: 'result', result: { attempt, providerId: script.provider ?? `p${attempt}`, key: script.key } }
          : 'failed' in script
            ? { kind: 'failed', reason: script.failed }
            : { kind: 'noMatch', reason: script.noMatch },
    );
    let step = decide(s);
    for (;;) {
      s = step.state;
      actions.push(step.action);
      if (step.action.kind === 'cropCheck') {
        const crop = crops.shift();
        if (!crop) throw new Error('a crop check was asked for and none was scripted');
        step = cropChecked(s, crop);
        continue;
      }
      if (step.action.kind === 'launch') launch(step.action.copies);
      if (step.action.kind === 'accept' || step.action.kind === 'fail') return { state: s, actions, final: step.action, launched };
      break;
    }
  }
  throw new Error('no verdict after 50 settles');
}

const rules = (redundancy: number, maxExtraRuns = 0): VerificationRules => ({ redundancy, maxExtraRuns });
const plain = (needed: number) => ({ needed, cropCheckDue: false });

describe('quorum and tie-breakers', () => {
  it('accepts two agreeing copies of redundancy 2', () => {
    const r = simulate(rules(2), plain(2), [{ key: 'a' }, { key: 'a' }]);
    expect(r.final).toEqual({ kind: 'accept', providerId: 'p1', accepted: [1, 2], rejected: [], votes: { a: 2 }, stopCopies: true });
    expect(r.actions[0]).toEqual({ kind: 'wait' });
  });

  it('accepts a lone copy of redundancy 1 at once', () => {
    expect(simulate(rules(1), plain(1), [{ key: 'a' }]).final).toMatchObject({ kind: 'accept', accepted: [1], rejected: [] });
  });

  it('accepts a majority of 3 as soon as it exists, stopping the copy still running', () => {
    const r = simulate(rules(3), plain(3), [{ key: 'a' }, { key: 'a' }, { key: 'b' }]);
    expect(r.final).toEqual({ kind: 'accept', providerId: 'p1', accepted: [1, 2], rejected: [], votes: { a: 2 }, stopCopies: true });
  });

  it('a 2-1 split of 3 accepts the two and rejects the one', () => {
    const r = simulate(rules(3), plain(3), [{ key: 'a' }, { key: 'b' }, { key: 'a' }]);
    expect(r.final).toMatchObject({ kind: 'accept', accepted: [1, 3], rejected: [2], votes: { a: 2, b: 1 } });
  });

  it('breaks a 1-1 tie with one more copy, and the tie-breaker decides', () => {
    const r = simulate(rules(2, 1), plain(2), [{ key: 'a' }, { key: 'b' }, { key: 'b' }]);
    expect(r.actions.filter((a) => a.kind === 'launch')).toEqual([{ kind: 'launch', copies: 1 }]);
    expect(r.final).toMatchObject({ kind: 'accept', providerId: 'p2', accepted: [2, 3], rejected: [1], votes: { a: 1, b: 2 } });
  });

  it('fails with every result as evidence when no result has a majority and no tie-breaker is left', () => {
    const r = simulate(rules(2, 1), plain(2), [{ key: 'a' }, { key: 'b' }, { key: 'c' }]);
    expect(r.final).toEqual({ kind: 'fail', stopCopies: false });
    expect(r.launched).toBe(3);
    expect(failureOf(r.state, 4)).toEqual({ failureType: 'NoQuorum', reason: 'subtask 4: no result had a majority after 3 runs: [p1] a; [p2] b; [p3] c', votes: { a: 1, b: 1, c: 1 } });
  });

  it('shortens blob hashes in the evidence', () => {
    const hash = (c: string) => `stdout=sha256:${c.repeat(64)}`;
    const r = simulate(rules(2), plain(2), [{ key: hash('a') }, { key: hash('b') }]);
    expect(failureOf(r.state, 0).reason).toBe('subtask 0: no result had a majority after 2 runs: [p1] stdout=sha256:aaaaaaaaaaaa…; [p2] stdout=sha256:bbbbbbbbbbbb…');
  });

  it('a result that agrees with only itself never wins against an equal count', () => {
    // Two against two: no strict majority, and with no tie-breaker left the subtask fails.
    const r = simulate(rules(4), plain(4), [{ key: 'a' }, { key: 'b' }, { key: 'a' }, { key: 'b' }]);
    expect(r.final).toEqual({ kind: 'fail', stopCopies: false });
  });
});

describe('failures', () => {
  it('a copy that spends its attempts fails the subtask and stops the others', () => {
    const r = simulate(rules(2), plain(2), [{ failed: 'failed after 2 attempts: exited with code 2' }, { key: 'a' }]);
    expect(r.final).toEqual({ kind: 'fail', stopCopies: true });
    expect(failureOf(r.state, 1)).toEqual({ failureType: 'SubtaskFailed', reason: 'subtask 1 failed after 2 attempts: exited with code 2', votes: {} });
  });

  it('the first of several failures is the one reported', () => {
    const r = simulate(rules(2), plain(2), [{ failed: 'failed first' }, { failed: 'failed second' }]);
    expect(failureOf(r.state, 0).reason).toBe('subtask 0 failed first');
  });

  it('no matching offer fails with NoMatchingOffer and no votes', () => {
    const r = simulate(rules(1), plain(1), [{ noMatch: 'no offer matched for 30 s: no provider offers 64 CPUs' }]);
    expect(failureOf(r.state, 2)).toEqual({ failureType: 'NoMatchingOffer', reason: 'subtask 2: no offer matched for 30 s: no provider offers 64 CPUs' });
  });

  it('a first placement that finds no offer fails the same way, with nothing launched', () => {
    const s = firstPlacementFailed(startVerification(rules(2), plain(2)), 'no offer matched for 5 s');
    expect(s.launched).toBe(0);
    expect(failureOf(s, 0)).toMatchObject({ failureType: 'NoMatchingOffer', reason: 'subtask 0: no offer matched for 5 s' });
  });

  it('a cancelled copy counts as settled but neither votes nor fails', () => {
    const r = simulate(rules(2, 1), plain(2), ['cancelled', { key: 'a' }, { key: 'a' }]);
    // 1 result of 2 needed, both settled: a tie-breaker, which agrees: accepted by 2 votes.
    expect(r.final).toMatchObject({ kind: 'accept', accepted: [2, 3], votes: { a: 2 } });
  });
});

describe('crop checks', () => {
  const lone = { needed: 1, cropCheckDue: true };

  it('a crop check that agrees accepts the lone result and the checker', () => {
    const r = simulate(rules(2), lone, [{ key: 'a' }], [{ kind: 'agreed', attempt: 2 }]);
    expect(r.actions).toContainEqual({ kind: 'cropCheck', of: { attempt: 1, providerId: 'p1', key: 'a' } });
    expect(r.final).toEqual({ kind: 'accept', providerId: 'p1', accepted: [1, 2], rejected: [], votes: { a: 1 }, stopCopies: false });
  });

  it('a crop check that cannot run leaves the lone result accepted on its own', () => {
    const r = simulate(rules(2), lone, [{ key: 'a' }], [{ kind: 'skipped' }]);
    expect(r.final).toEqual({ kind: 'accept', providerId: 'p1', accepted: [1], rejected: [], votes: { a: 1 }, stopCopies: true });
  });

  it('a doubting crop check calls full copies; when the lone result loses, the check was right', () => {
    // Lone result a (attempt 1); the check (attempt 99) disagrees; copies 2 and 3 say b.
    const r = simulate(rules(2, 1), lone, [{ key: 'a' }, { key: 'b' }, { key: 'b' }], [{ kind: 'disagreed', attempt: 99 }]);
    expect(r.actions.filter((a) => a.kind === 'launch')).toEqual([
      { kind: 'launch', copies: 1 },
      { kind: 'launch', copies: 1 },
    ]);
    expect(r.final).toMatchObject({ kind: 'accept', providerId: 'p2', accepted: [2, 3, 99], rejected: [1] });
  });

  it('a doubting crop check is rejected when a full copy agrees with the lone result', () => {
    const r = simulate(rules(2), lone, [{ key: 'a' }, { key: 'a' }], [{ kind: 'disagreed', attempt: 7 }]);
    expect(r.final).toMatchObject({ kind: 'accept', providerId: 'p1', accepted: [1, 2], rejected: [7] });
  });

  it('doubt under redundancy 3 calls copies up to 3', () => {
    const r = simulate(rules(3), lone, [{ key: 'a' }, { key: 'a' }, { key: 'a' }], [{ kind: 'disagreed', attempt: 9 }]);
    expect(r.actions).toContainEqual({ kind: 'launch', copies: 2 });
    expect(r.final).toMatchObject({ kind: 'accept', accepted: [1, 2], rejected: [9] });
  });

  it('no crop check once more than one copy runs', () => {
    const r = simulate(rules(2), { needed: 2, cropCheckDue: true }, [{ key: 'a' }, { key: 'a' }]);
    expect(r.actions.some((a) => a.kind === 'cropCheck')).toBe(false);
  });
});

describe('planning copies', () => {
  const adaptive = { trustAfter: 3, minReputation: 0.6, soloRate: 0.5, spotCheckRate: 0.5 };
  const trusted = { providerId: 'p1', accepted: 5, reputation: 0.9 };
  const draws = (...values: number[]) => {
    const queue = [...values];
    return () => {
      const v = queue.shift();
      if (v === undefined) throw new Error('drew more than scripted');
      return v;
    };
  };

  it('without adaptive verification: the redundancy, and two draws spent all the same', () => {
    let n = 0;
    const plan = planCopies({ redundancy: 2, adaptive: null, cropCheck: null, seed: 1 }, () => (n++, 0.1), null);
    expect(plan).toEqual({ needed: 2, cropCheckDue: false, notes: [] });
    expect(n).toBe(2);
  });

  it('a lone copy draws for a crop check, and the note says which way it went', () => {
    expect(planCopies({ redundancy: 1, adaptive: null, cropCheck: { rate: 0.3 }, seed: 7 }, draws(0.9, 0.9, 0.1234), null)).toEqual({
      needed: 1,
      cropCheckDue: true,
      notes: [{ step: 'crop-draw', reason: 'seed 7, crop draw 0.123: crop check (draw < 0.3)' }],
    });
    expect(planCopies({ redundancy: 1, adaptive: null, cropCheck: { rate: 0.3 }, seed: 7 }, draws(0, 0, 0.5), null).cropCheckDue).toBe(false);
  });

  it('a trusted provider works alone on a low solo draw', () => {
    const plan = planCopies({ redundancy: 2, adaptive: { ...adaptive, spotCheckRate: 0 }, cropCheck: null, seed: 3 }, draws(0.2, 0.7), trusted);
    expect(plan.needed).toBe(1);
    expect(plan.cropCheckDue).toBe(false);
    expect(plan.notes[0].reason).toBe('seed 3, draws solo 0.200 spot 0.700: p1 trusted, alone (solo draw 0.200 < 0.5; no spot check, draw 0.700)');
  });

  it('a trusted provider\'s spot check becomes a crop check when the job has one', () => {
    const plan = planCopies({ redundancy: 2, adaptive, cropCheck: { rate: 0 }, seed: 3 }, draws(0.2, 0.1), trusted);
    expect(plan).toMatchObject({ needed: 1, cropCheckDue: true });
    expect(plan.notes).toHaveLength(1);
    expect(plan.notes[0].reason).toContain(', as a crop check');
  });

  it('a provider not yet trusted gets the full redundancy', () => {
    const plan = planCopies({ redundancy: 3, adaptive, cropCheck: null, seed: 1 }, draws(0, 0), { providerId: 'new', accepted: 1, reputation: 0.5 });
    expect(plan.needed).toBe(3);
    expect(plan.notes[0].reason).toContain('new not trusted yet (1.0 accepted results, reputation 0.50): 3 copies');
  });

  it('the same seed plans the same way every time (an audit can replay it)', () => {
    const input = { redundancy: 2, adaptive, cropCheck: { rate: 0.5 }, seed: 42 };
    const a = planCopies(input, seededRandom(42), trusted);
    const b = planCopies(input, seededRandom(42), trusted);
    expect(a).toEqual(b);
  });

  it('adaptive planning needs the first placement', () => {
    expect(() => planCopies({ redundancy: 2, adaptive, cropCheck: null, seed: 1 }, draws(0, 0), null)).toThrow('after the first copy is placed');
  });
});

describe('a lone result that decides alone (accepted as it is recorded)', () => {
  const rules = { redundancy: 1, maxExtraRuns: 0 };
  const result = (attempt: number, key: string) => ({ kind: 'result' as const, result: { attempt, providerId: `p${attempt}`, key } });

  it('is the verdict decide reaches: that attempt accepted, none rejected, one vote for its key', () => {
    for (const [attempt, key] of [
      [1, 'sha256:aa'],
      [3, 'sha256:bb'],
    ] as const) {
      const running = copyLaunched(startVerification(rules, { needed: 1, cropCheckDue: false }));
      expect(acceptsLoneResult(running)).toBe(true);
      const step = decide(copySettled(running, result(attempt, key)));
      expect(step.action).toEqual({ kind: 'accept', providerId: `p${attempt}`, accepted: [attempt], rejected: [], votes: { [key]: 1 }, stopCopies: true });
    }
  });

  it('is not claimed when a crop check is due, more copies are needed, or another copy is out or settled', () => {
    const start = (needed: number, cropCheckDue: boolean) => startVerification({ redundancy: needed, maxExtraRuns: 1 }, { needed, cropCheckDue });
    expect(acceptsLoneResult(copyLaunched(start(1, true)))).toBe(false);
    expect(acceptsLoneResult(copyLaunched(start(2, false)))).toBe(false);
    expect(acceptsLoneResult(copyLaunched(copyLaunched(start(1, false))))).toBe(false);
    expect(acceptsLoneResult(start(1, false))).toBe(false);
    // A tie-breaker after a crop check doubted: the lone result no longer decides alone.
    const doubted = { ...copyLaunched(start(1, false)), doubtedBy: 2 };
    expect(acceptsLoneResult(doubted)).toBe(false);
  });
});

