import { describe, expect, it } from 'vitest';
import {
  agreementCapacity,
  assignSubtasks,
  bestWithCapacity,
  checkOffer,
  choosePlacement,
  decisiveConstraint,
  describeCounts,
  filterOffers,
  rankOffers,
  scoreOffers,
  type Demand,
  type MarketOffer,
  type Offer,
} from '../../core/market.js';
import { validateOffer, InvalidOfferError } from '../../core/offer.js';
import { reviewProposal, type ProviderPolicy, type Proposal } from '../../core/policy.js';
import { resolvePreset } from '../../core/presets.js';
import { decay, reputationOf } from '../../core/reputation.js';
import { exactKey, formatDraw, judge, planVerification, quorumOf } from '../../core/verify.js';

const GiB = 1024 ** 3;

function offer(id: string, over: Partial<Offer> = {}): Offer {
  return {
    providerId: id,
    cpus: 2,
    memoryBytes: 4 * GiB,
    diskBytes: 20 * GiB,
    gpu: null,
    runtimes: ['docker'],
    images: ['*'],
    pricing: { start: 0, cpuSecond: 0.0001, envSecond: 0.00005 },
    limits: { maxConcurrentAgreements: 2, maxSubtaskSeconds: 3600 },
    benchmark: { score: 100, seconds: 0.6 },
    preset: null,
    ...over,
  };
}

function market(o: Offer, over: Partial<MarketOffer> = {}): MarketOffer {
  return { offer: o, online: true, active: 0, reputation: 0.5, uptime: 1, ...over };
}

const demand = (over: Partial<Demand> = {}): Demand => ({
  requestorId: 'r',
  image: 'golemflow/compute:1',
  runtime: 'docker',
  minCpus: 1,
  minMemoryBytes: GiB,
  minDiskBytes: 0,
  gpu: { count: 0 },
  maxPrice: {},
  minReputation: 0,
  allowedProviders: null,
  blockedProviders: [],
  preference: 'cheapest',
  maxDurationSeconds: 600,
  estimateSeconds: 60,
  ...over,
});

describe('filtering offers', () => {
  const base = market(offer('p'));

  it('keeps an offer that meets every constraint', () => {
    expect(checkOffer(base, demand())).toBeUndefined();
  });

  it.each([
    ['offline', market(offer('p'), { online: false }), demand()],
    ['excluded', base, demand(), new Set(['p'])],
    ['notAllowed', base, demand({ allowedProviders: ['q'] })],
    ['blocked', base, demand({ blockedProviders: ['p'] })],
    ['runtime', base, demand({ runtime: 'wasm' })],
    ['image', market(offer('p', { images: ['acme/*'] })), demand()],
    ['cpus', base, demand({ minCpus: 4 })],
    ['memory', base, demand({ minMemoryBytes: 8 * GiB })],
    ['disk', base, demand({ minDiskBytes: 100 * GiB })],
    ['gpu', base, demand({ gpu: { count: 1 } })],
    ['gpu', market(offer('p', { gpu: { model: 'RTX 3060', count: 1 } })), demand({ gpu: { count: 1, model: 'A100' } })],
    ['maxPrice.start', market(offer('p', { pricing: { start: 1, cpuSecond: 0, envSecond: 0 } })), demand({ maxPrice: { start: 0.5 } })],
    ['maxPrice.cpuSecond', base, demand({ maxPrice: { cpuSecond: 0.00001 } })],
    ['maxPrice.envSecond', base, demand({ maxPrice: { envSecond: 0.00001 } })],
    ['reputation', base, demand({ minReputation: 0.8 })],
    ['maxSubtaskSeconds', base, demand({ maxDurationSeconds: 7200 })],
  ] as const)('rules an offer out by %s alone', (constraint, m, d, exclude?: Set<string>) => {
    expect(checkOffer(m as MarketOffer, d, exclude)?.constraint).toBe(constraint);
  });

  it('names the first failing constraint when several fail, and counts them all', () => {
    const offers = [
      market(offer('a'), { online: false }),
      market(offer('b', { cpus: 0.5 })),
      market(offer('c', { cpus: 0.5, pricing: { start: 0, cpuSecond: 1, envSecond: 0 } })),
      market(offer('d')),
    ];
    const r = filterOffers(offers, demand({ maxPrice: { cpuSecond: 0.001 } }));
    expect(r.eligible.map((m) => m.offer.providerId)).toEqual(['d']);
    expect(r.counts).toEqual({ offline: 1, cpus: 2 });
    expect(describeCounts(r.counts)).toBe('1 by offline, 2 by cpus');
    expect(decisiveConstraint(r.counts)).toBe('cpus');
  });

  it('handles an empty market', () => {
    expect(filterOffers([], demand())).toEqual({ eligible: [], excluded: [], counts: {} });
    expect(rankOffers([], demand())).toEqual([]);
    expect(describeCounts({})).toBe('no offers at all');
    expect(assignSubtasks([], demand(), [{ index: 0 }])).toEqual([{ index: 0, providerId: null }]);
  });
});

describe('ranking offers', () => {
  const cheapSlow = market(offer('cheap', { pricing: { start: 0, cpuSecond: 0.00005, envSecond: 0 }, benchmark: { score: 50, seconds: 1.2 } }));
  const dearFast = market(offer('dear', { pricing: { start: 0, cpuSecond: 0.0002, envSecond: 0 }, benchmark: { score: 200, seconds: 0.3 } }));
  const reliable = market(offer('steady', { pricing: { start: 0, cpuSecond: 0.0001, envSecond: 0 }, benchmark: { score: 100, seconds: 0.6 } }), { reputation: 0.95, uptime: 1 });

  it('puts the cheapest first for "cheapest", the fastest for "fastest", the most reliable for "reliable"', () => {
    const all = [dearFast, reliable, cheapSlow];
    expect(rankOffers(all, demand({ preference: 'cheapest' }))[0].providerId).toBe('cheap');
    expect(rankOffers(all, demand({ preference: 'fastest' }))[0].providerId).toBe('dear');
    expect(rankOffers(all, demand({ preference: 'reliable' }))[0].providerId).toBe('steady');
  });

  it('follows custom weights', () => {
    const r = rankOffers([cheapSlow, dearFast], demand({ preference: { weights: { performance: 1, price: 1 } } }));
    // price: cheap 1, dear 0.25; performance: cheap 0.25, dear 1 → a tie broken by id.
    expect(r.map((x) => x.providerId)).toEqual(['cheap', 'dear']);
    expect(r[0].score).toBeCloseTo(r[1].score, 10);
  });

  it('breaks ties by provider id, and marks offers without capacity', () => {
    const a = market(offer('b-same'));
    const b = market(offer('a-same'), { active: 2 });
    const r = rankOffers([a, b], demand());
    expect(r.map((x) => x.providerId)).toEqual(['a-same', 'b-same']);
    expect(r.map((x) => x.hasCapacity)).toEqual([false, true]);
  });

  it('places on a free slot first, behind a busy one only when asked and none is free', () => {
    const cheapBusy = market(offer('cheap', { pricing: { start: 0, cpuSecond: 0.0001, envSecond: 0 } }), { active: 2 });
    const dearFree = market(offer('dear', { pricing: { start: 0, cpuSecond: 0.001, envSecond: 0 } }), { active: 1 });
    const d = demand();
    expect(bestWithCapacity(scoreOffers([cheapBusy, dearFree], d))?.providerId).toBe('dear');
    expect(bestWithCapacity(scoreOffers([cheapBusy, dearFree], d), true)?.providerId).toBe('dear');
    const dearBusy = market(dearFree.offer, { active: 2 });
    expect(bestWithCapacity(scoreOffers([cheapBusy, dearBusy], d))).toBeUndefined();
    expect(bestWithCapacity(scoreOffers([cheapBusy, dearBusy], d), true)?.providerId).toBe('cheap');
    // Two slots hold at most four agreements: two running, two waiting.
    expect(agreementCapacity(2)).toBe(4);
    const full = market(cheapBusy.offer, { active: 4 });
    expect(bestWithCapacity(scoreOffers([full], d), true)).toBeUndefined();
  });

  it('counts the start price and wall-time price in the expected cost', () => {
    const startHeavy = market(offer('s', { pricing: { start: 1, cpuSecond: 0, envSecond: 0 } }));
    const perSecond = market(offer('t', { pricing: { start: 0, cpuSecond: 0.001, envSecond: 0.001 } }));
    const r = rankOffers([startHeavy, perSecond], demand({ minCpus: 1, estimateSeconds: 60 }));
    expect(r[0]).toMatchObject({ providerId: 't', expectedCost: 0.12 });
  });
});

describe('assigning subtasks', () => {
  it('fills the best offers up to their capacity, then the next, and respects each subtask’s exclusions', () => {
    const offers = [
      market(offer('a', { pricing: { start: 0, cpuSecond: 0.00001, envSecond: 0 }, limits: { maxConcurrentAgreements: 2, maxSubtaskSeconds: 3600 } })),
      market(offer('b', { pricing: { start: 0, cpuSecond: 0.00002, envSecond: 0 }, limits: { maxConcurrentAgreements: 1, maxSubtaskSeconds: 3600 } })),
    ];
    const r = assignSubtasks(offers, demand(), [{ index: 0 }, { index: 1, exclude: new Set(['a']) }, { index: 2 }, { index: 3 }]);
    expect(r).toEqual([
      { index: 0, providerId: 'a' },
      { index: 1, providerId: 'b' },
      { index: 2, providerId: 'a' },
      { index: 3, providerId: null },
    ]);
  });
});

describe('placing one attempt after another (a batch)', () => {
  const one = (id: string, price: number) => market(offer(id, { pricing: { start: 0, cpuSecond: price, envSecond: 0 }, limits: { maxConcurrentAgreements: 1, maxSubtaskSeconds: 3600 } }));
  const none = new Set<string>();

  it('each placement counts against its provider at once: free slots first, then one behind each busy slot, then busy', () => {
    const offers = [one('cheap', 0.0001), one('dear', 0.001)];
    const d = demand();
    const picks = Array.from({ length: 5 }, () => choosePlacement(offers, d, none, none));
    expect(picks.map((p) => (p.kind === 'placed' ? `${p.winner.providerId}${p.winner.hasCapacity ? '' : ' (queued)'}` : p.kind))).toEqual([
      'cheap',
      'dear',
      'cheap (queued)',
      'dear (queued)',
      'busy',
    ]);
    expect(offers.map((m) => m.active)).toEqual([2, 2]);
  });

  it('keeps out excluded providers, uses avoided ones only when nothing else is eligible, and says why nothing matches', () => {
    const offers = [one('a', 0.0001), one('b', 0.0002)];
    const d = demand();
    const avoided = choosePlacement(offers, d, none, new Set(['a']));
    expect(avoided.kind === 'placed' && avoided.winner.providerId).toBe('b');
    const fallback = choosePlacement(offers, d, new Set(['b']), new Set(['a']));
    expect(fallback.kind === 'placed' && fallback.winner.providerId).toBe('a');
    const noMatch = choosePlacement(offers, demand({ minCpus: 64 }), none, none);
    expect(noMatch).toMatchObject({ kind: 'noMatch', offersSeen: 2 });
    expect(noMatch.kind === 'noMatch' && describeCounts(noMatch.counts)).toContain('cpus');
  });
});

describe('offers', () => {
  const input = { name: 'node-a', cpus: 2, memory: '2g', pricing: { start: 0, cpuSecond: 0.0001, envSecond: 0.00005 } };

  it('fills defaults: docker runtime, any image, slots from the cpus', () => {
    expect(validateOffer(input)).toMatchObject({ providerId: 'node-a', runtimes: ['docker'], images: ['*'], limits: { maxConcurrentAgreements: 2, maxSubtaskSeconds: 3600 } });
  });

  it('refuses negative or absurd prices, unknown runtimes and more than the machine has, naming each', () => {
    try {
      validateOffer({ ...input, cpus: 8, memory: '64g', runtimes: ['vm'], pricing: { start: -1, cpuSecond: 5, envSecond: 0 }, machine: { cpus: 2, memory: '16g' } });
      expect.unreachable();
    } catch (e) {
      expect((e as InvalidOfferError).problems).toEqual([
        'cpus: offers 8, but the machine has 2',
        'memory: offers 64g, but the machine has 16 GiB',
        'runtimes: "vm" is not a known runtime (known: docker)',
        'pricing.start: must be a price of 0 GLM or more, got -1',
        'pricing.cpuSecond: 5 GLM is above the ceiling of 1 GLM',
      ]);
    }
  });

  it('knows the built-in presets and those of a config file', () => {
    expect(resolvePreset('budget').pricing.cpuSecond).toBeLessThan(resolvePreset('premium').pricing.cpuSecond);
    const custom = { presets: { night: { pricing: { start: 0, cpuSecond: 0.00001, envSecond: 0 }, maxSubtaskSeconds: 60 } } };
    expect(resolvePreset('night', custom).maxSubtaskSeconds).toBe(60);
    expect(() => resolvePreset('nope', custom)).toThrow('unknown preset "nope"; known presets: default, budget, premium, night');
  });
});

describe('a provider’s policy', () => {
  const policy: ProviderPolicy = {
    offerPricing: { start: 0, cpuSecond: 0.0001, envSecond: 0.00005 },
    minPricing: { start: 0, cpuSecond: 0.00008, envSecond: 0.00004 },
    allowedRequestors: null,
    blockedRequestors: ['mallory'],
    allowedImages: ['golemflow/*'],
    maxSubtaskSeconds: 600,
    maxConcurrentAgreements: 2,
  };
  const proposal: Proposal = {
    agreementId: 'a1',
    requestorId: 'alice',
    jobId: 'j',
    subtaskIndex: 0,
    image: 'golemflow/compute:1',
    pricing: { start: 0, cpuSecond: 0.0001, envSecond: 0.00005 },
    maxDurationSeconds: 300,
  };

  it('accepts a proposal at its price', () => {
    expect(reviewProposal(policy, proposal, 0)).toEqual({ decision: 'accept' });
  });

  it('rejects blocked requestors, foreign images, long subtasks and work beyond its limit, saying why', () => {
    expect(reviewProposal(policy, { ...proposal, requestorId: 'mallory' }, 0)).toEqual({ decision: 'reject', reason: 'requestor mallory is blocked by this provider' });
    expect(reviewProposal({ ...policy, allowedRequestors: ['bob'] }, proposal, 0)).toMatchObject({ decision: 'reject', reason: expect.stringContaining('not among the requestors') });
    expect(reviewProposal(policy, { ...proposal, image: 'evil/miner' }, 0)).toMatchObject({ decision: 'reject', reason: expect.stringContaining('image evil/miner is not allowed') });
    expect(reviewProposal(policy, { ...proposal, maxDurationSeconds: 3600 }, 0)).toMatchObject({ decision: 'reject', reason: expect.stringContaining('at most 600 s') });
    // Two slots: two runs and one waiting behind each, no more.
    expect(reviewProposal(policy, proposal, 3)).toEqual({ decision: 'accept' });
    expect(reviewProposal(policy, proposal, 4)).toMatchObject({ decision: 'reject', reason: 'busy: 4 agreements open on 2 slots (at most 4: one waiting per slot)' });
  });

  it('counters a proposal below its lowest price with its offer price', () => {
    const low = { ...proposal, pricing: { start: 0, cpuSecond: 0.00005, envSecond: 0.00005 } };
    expect(reviewProposal(policy, low, 0)).toMatchObject({ decision: 'counter', pricing: policy.offerPricing });
  });
});

describe('quorum and adaptive verification', () => {
  const r = (attempt: number, providerId: string, key: string) => ({ attempt, providerId, key });

  it('accepts a majority and rejects the rest; a tie stays undecided', () => {
    expect(judge([r(1, 'a', 'x'), r(2, 'b', 'x')], 2)).toMatchObject({ verdict: 'accepted', key: 'x', disagreeing: [] });
    expect(judge([r(1, 'a', 'x'), r(2, 'b', 'y')], 2)).toEqual({ verdict: 'undecided', votes: { x: 1, y: 1 } });
    const j = judge([r(1, 'a', 'x'), r(2, 'b', 'y'), r(3, 'c', 'x')], 2);
    expect(j).toMatchObject({ verdict: 'accepted', key: 'x' });
    expect(j.verdict === 'accepted' && j.disagreeing.map((d) => d.providerId)).toEqual(['b']);
    expect(judge([r(1, 'a', 'x')], 1)).toMatchObject({ verdict: 'accepted' });
    expect(quorumOf(3)).toBe(2);
  });

  it('compares stdout and every output file, in any order', () => {
    const a = exactKey({ stdoutRef: 'sha256:1', outputs: [{ path: 'b.png', ref: 'sha256:3' }, { path: 'a.png', ref: 'sha256:2' }] });
    const b = exactKey({ stdoutRef: 'sha256:1', outputs: [{ path: 'a.png', ref: 'sha256:2' }, { path: 'b.png', ref: 'sha256:3' }] });
    expect(a).toBe(b);
    expect(exactKey({ stdoutRef: 'sha256:1', outputs: [{ path: 'a.png', ref: 'sha256:9' }, { path: 'b.png', ref: 'sha256:3' }] })).not.toBe(a);
  });

  const policy = { trustAfter: 10, minReputation: 0.9, soloRate: 0.5, spotCheckRate: 0.25 };
  const trusted = { providerId: 'p', accepted: 20, reputation: 0.95 };

  it('lets a trusted provider work alone at the solo rate, spot-checked at its rate, from the draws', () => {
    expect(planVerification(2, policy, trusted, { solo: 0.2, spot: 0.9 })).toMatchObject({ copies: 1 });
    expect(planVerification(2, policy, trusted, { solo: 0.2, spot: 0.1 })).toMatchObject({ copies: 2, reason: expect.stringContaining('spot check') });
    expect(planVerification(2, policy, trusted, { solo: 0.7, spot: 0.9 })).toMatchObject({ copies: 2 });
    expect(planVerification(2, policy, { ...trusted, accepted: 3 }, { solo: 0, spot: 0.9 })).toMatchObject({ copies: 2, reason: expect.stringContaining('not trusted') });
    expect(planVerification(2, null, trusted, { solo: 0, spot: 0.9 })).toMatchObject({ copies: 2 });
    // Exactly trustAfter results, decayed a little since: trusted (it was "2.0 accepted results, not trusted yet").
    expect(planVerification(2, policy, { ...trusted, accepted: 9.99997 }, { solo: 0, spot: 0.9 })).toMatchObject({ copies: 1 });
    expect(planVerification(2, policy, { ...trusted, accepted: 9.9 }, { solo: 0, spot: 0.9 }).reason).toContain('not trusted yet (9.9 accepted results');
    // A draw just under 1 must never print as 1.000 (it would read "1.000 < 1").
    expect(formatDraw(0.99962)).toBe('0.999');
    expect(planVerification(2, { ...policy, soloRate: 1 }, trusted, { solo: 0.99962, spot: 0.9 }).reason).toContain('solo draw 0.999 < 1');
  });
});

describe('reputation', () => {
  it('is neutral with no history, rises with accepted results, falls far with one wrong result', () => {
    expect(reputationOf({ accepted: 0, wrong: 0, failures: 0, timeouts: 0 })).toBe(0.5);
    expect(reputationOf({ accepted: 20, wrong: 0, failures: 0, timeouts: 0 })).toBeGreaterThan(0.9);
    const oneWrong = reputationOf({ accepted: 0, wrong: 1, failures: 0, timeouts: 0 });
    const oneFailure = reputationOf({ accepted: 0, wrong: 0, failures: 1, timeouts: 0 });
    expect(oneWrong).toBeLessThan(0.2);
    expect(oneFailure).toBeGreaterThan(0.2);
    expect(decay(3.5 * 24 * 3600)).toBeCloseTo(0.5);
  });
});
