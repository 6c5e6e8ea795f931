import { REPUTATION_FLOOR } from './reputation.js';

/**
 * The market's pure logic: which offers a demand can use (and, for each one it cannot, the
 * constraint that rules it out), how the eligible ones rank under a preference, and the
 * assignment of many subtasks to offers with capacity. No I/O: the activities bring the offers.
 */

/** Linear pricing in GLM, as Golem providers price: a start price, per CPU-second, per environment (wall) second. */
export interface Pricing {
  start: number;
  cpuSecond: number;
  envSecond: number;
}

export interface Offer {
  providerId: string;
  cpus: number;
  memoryBytes: number;
  diskBytes: number;
  gpu: { model: string; count: number } | null;
  runtimes: string[];
  /** Images the provider runs: exact names, or prefixes ending in `*`. */
  images: string[];
  pricing: Pricing;
  limits: { maxConcurrentAgreements: number; maxSubtaskSeconds: number };
  benchmark: { score: number; seconds: number } | null;
  preset: string | null;
  paymentAddress?: string | null;
}

/** An offer as the market sees it now. */
export interface MarketOffer {
  offer: Offer;
  online: boolean;
  /** Agreements in flight on this provider. */
  active: number;
  /** 0..1; 0.5 is neutral (no history). */
  reputation: number;
  /** 0..1, share of the time it was seen online. */
  uptime: number;
}

export type PreferenceName = 'cheapest' | 'fastest' | 'reliable';
export interface Weights {
  price: number;
  performance: number;
  reputation: number;
  uptime: number;
}
export type Preference = PreferenceName | { weights: Partial<Weights> };

export interface Demand {
  requestorId: string;
  image: string;
  runtime: string;
  minCpus: number;
  minMemoryBytes: number;
  minDiskBytes: number;
  gpu: { count: number; model?: string };
  maxPrice: Partial<Pricing>;
  minReputation: number;
  allowedProviders: string[] | null;
  blockedProviders: string[];
  preference: Preference;
  /** The subtask's time limit: a provider must accept subtasks this long. */
  maxDurationSeconds: number;
  /** Expected wall seconds of one subtask, for comparing prices. */
  estimateSeconds: number;
  /** A paid job needs providers it can pay: an offer with a payment address. */
  paid?: boolean;
}

export const CONSTRAINTS = [
  'offline',
  'excluded',
  'notAllowed',
  'blocked',
  'runtime',
  'image',
  'cpus',
  'memory',
  'disk',
  'gpu',
  'maxPrice.start',
  'maxPrice.cpuSecond',
  'maxPrice.envSecond',
  'reputation',
  'maxSubtaskSeconds',
  'paymentAddress',
] as const;
export type Constraint = (typeof CONSTRAINTS)[number];

/** Constraints that depend on the moment (liveness, what was tried), not on the offer's terms. */
export const TRANSIENT_CONSTRAINTS: ReadonlySet<Constraint> = new Set(['offline', 'excluded']);

export interface Exclusion {
  providerId: string;
  constraint: Constraint;
  detail: string;
}

export interface ScoredOffer {
  providerId: string;
  score: number;
  /** Each component in 0..1 before weighting. */
  components: Weights;
  expectedCost: number;
  /** A slot is free now: a container could start at once. */
  hasCapacity: boolean;
  /** Every slot is busy, but one may take an agreement waiting behind its run (QUEUED_PER_SLOT). */
  canQueue: boolean;
}

/**
 * Agreements a provider holds beyond its slots: one may wait behind each slot's run, so the
 * next container starts the moment the last one ends, its negotiation done while the last one
 * ran (Golem's providers likewise keep an agreement across many activities). The provider runs
 * at most `slots` containers; a waiting run heartbeats until its turn.
 */
export const QUEUED_PER_SLOT = 1;

/** How long a run may wait behind a provider's busy slots before it gives the work back (QueueWaitExpired). */
export const QUEUE_WAIT_SECONDS = 240;

/** Open agreements a provider with `slots` slots may hold: its runs and those waiting behind them. */
export function agreementCapacity(slots: number): number {
  return slots * (1 + QUEUED_PER_SLOT);
}

export const PRESET_WEIGHTS: Record<PreferenceName, Weights> = {
  cheapest: { price: 1, performance: 0.05, reputation: 0.05, uptime: 0 },
  fastest: { price: 0.05, performance: 1, reputation: 0.05, uptime: 0 },
  reliable: { price: 0.05, performance: 0.05, reputation: 0.6, uptime: 0.4 },
};

export function weightsOf(p: Preference): Weights {
  if (typeof p === 'string') return PRESET_WEIGHTS[p];
  return { price: 0, performance: 0, reputation: 0, uptime: 0, ...p.weights };
}

/** Does an image name match one of the patterns (exact, or a prefix ending in `*`)? */
export function imageAllowed(image: string, patterns: string[]): boolean {
  for (const p of patterns) {
    if (p === '*' || p === image) return true;
    if (p.endsWith('*') && image.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}


/** What one subtask is expected to cost under an offer's pricing. */
export function expectedCost(pricing: Pricing, cpus: number, seconds: number): number {
  return pricing.start + pricing.cpuSecond * cpus * seconds + pricing.envSecond * seconds;
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * The first constraint that rules the offer out for the demand, or undefined when it is
 * eligible. No strings and no closures in here: it runs for every offer of every match (and
 * tsx names every closure made with Object.defineProperty, which costs more than the checks).
 */
export function failedConstraint(m: MarketOffer, d: Demand, exclude: ReadonlySet<string> = EMPTY): Constraint | undefined {
  const o = m.offer;
  const id = o.providerId;
  if (!m.online) return 'offline';
  if (exclude.has(id)) return 'excluded';
  if (d.allowedProviders && !d.allowedProviders.includes(id)) return 'notAllowed';
  if (d.blockedProviders.length && d.blockedProviders.includes(id)) return 'blocked';
  if (!o.runtimes.includes(d.runtime)) return 'runtime';
  if (!imageAllowed(d.image, o.images)) return 'image';
  if (o.cpus < d.minCpus) return 'cpus';
  if (o.memoryBytes < d.minMemoryBytes) return 'memory';
  if (o.diskBytes < d.minDiskBytes) return 'disk';
  if (d.gpu.count > 0) {
    if (!o.gpu || o.gpu.count < d.gpu.count) return 'gpu';
    if (d.gpu.model && !o.gpu.model.toLowerCase().includes(d.gpu.model.toLowerCase())) return 'gpu';
  }
  if (d.maxPrice.start !== undefined && o.pricing.start > d.maxPrice.start) return 'maxPrice.start';
  if (d.maxPrice.cpuSecond !== undefined && o.pricing.cpuSecond > d.maxPrice.cpuSecond) return 'maxPrice.cpuSecond';
  if (d.maxPrice.envSecond !== undefined && o.pricing.envSecond > d.maxPrice.envSecond) return 'maxPrice.envSecond';
  if (m.reputation < d.minReputation || m.reputation < REPUTATION_FLOOR) return 'reputation';
  if (o.limits.maxSubtaskSeconds < d.maxDurationSeconds) return 'maxSubtaskSeconds';
  if (d.paid && !o.paymentAddress) return 'paymentAddress';
  return undefined;
}

/** Words for why the constraint rules the offer out. */
export function describeExclusion(m: MarketOffer, d: Demand, c: Constraint): string {
  const o = m.offer;
  switch (c) {
    case 'offline':
      return 'not seen recently';
    case 'excluded':
      return 'already tried for this subtask or holds a copy of it';
    case 'notAllowed':
      return 'not in allowedProviders';
    case 'blocked':
      return 'in blockedProviders';
    case 'runtime':
      return `offers ${o.runtimes.join(', ') || 'no runtime'}, not ${d.runtime}`;
    case 'image':
      return `does not run ${d.image}`;
    case 'cpus':
      return `${o.cpus} cpus < ${d.minCpus}`;
    case 'memory':
      return `${o.memoryBytes} bytes < ${d.minMemoryBytes}`;
    case 'disk':
      return `${o.diskBytes} bytes < ${d.minDiskBytes}`;
    case 'gpu':
      return !o.gpu || o.gpu.count < d.gpu.count ? `${o.gpu?.count ?? 0} GPUs < ${d.gpu.count}` : `GPU ${o.gpu.model} is not ${d.gpu.model}`;
    case 'reputation':
      return `reputation ${m.reputation.toFixed(2)} < ${Math.max(d.minReputation, REPUTATION_FLOOR)}${d.minReputation < REPUTATION_FLOOR ? ' (the market floor)' : ''}`;
    case 'maxSubtaskSeconds':
      return `takes subtasks of at most ${o.limits.maxSubtaskSeconds} s, this one may run ${d.maxDurationSeconds} s`;
    case 'paymentAddress':
      return 'publishes no payment address, and this job pays in GLM';
    default: {
      const k = c.slice('maxPrice.'.length) as keyof Pricing;
      return `${k} price ${o.pricing[k]} GLM > ${d.maxPrice[k]}`;
    }
  }
}

/** The constraint that rules the offer out, with words for it; undefined when it is eligible. */
export function checkOffer(m: MarketOffer, d: Demand, exclude: ReadonlySet<string> = EMPTY): Exclusion | undefined {
  const c = failedConstraint(m, d, exclude);
  return c && { providerId: m.offer.providerId, constraint: c, detail: describeExclusion(m, d, c) };
}

export interface FilterResult {
  eligible: MarketOffer[];
  excluded: Exclusion[];
  counts: Partial<Record<Constraint, number>>;
}

/**
 * Splits offers into the eligible and the excluded (each with the first constraint it fails);
 * every exclusion is counted, the first `keepExcluded` are kept with their words.
 */
export function filterOffers(offers: MarketOffer[], d: Demand, exclude: ReadonlySet<string> = EMPTY, keepExcluded = Infinity): FilterResult {
  const eligible: MarketOffer[] = [];
  const excluded: Exclusion[] = [];
  const counts: Partial<Record<Constraint, number>> = {};
  for (const m of offers) {
    const c = failedConstraint(m, d, exclude);
    if (c === undefined) {
      eligible.push(m);
      continue;
    }
    counts[c] = (counts[c] ?? 0) + 1;
    if (excluded.length < keepExcluded) excluded.push({ providerId: m.offer.providerId, constraint: c, detail: describeExclusion(m, d, c) });
  }
  return { eligible, excluded, counts };
}

/** Best first; ties go to the lower provider id, so the order is stable. */
export function compareScored(a: ScoredOffer, b: ScoredOffer): number {
  return b.score - a.score || (a.providerId < b.providerId ? -1 : a.providerId > b.providerId ? 1 : 0);
}

/** Scores eligible offers under the demand's preference (in their given order). */
export function scoreOffers(eligible: MarketOffer[], d: Demand): ScoredOffer[] {
  if (!eligible.length) return [];
  const w = weightsOf(d.preference);
  const total = w.price + w.performance + w.reputation + w.uptime || 1;
  const cpus = Math.max(d.minCpus, 1);
  const costs = new Float64Array(eligible.length);
  let minCost = Infinity;
  let maxPerf = 0;
  for (let i = 0; i < eligible.length; i++) {
    const m = eligible[i];
    costs[i] = expectedCost(m.offer.pricing, cpus, d.estimateSeconds);
    if (costs[i] < minCost) minCost = costs[i];
    const perf = m.offer.benchmark?.score ?? 0;
    if (perf > maxPerf) maxPerf = perf;
  }
  return eligible.map((m, i) => {
    const components: Weights = {
      // The cheapest scores 1, one twice as dear 0.5; free offers all score 1.
      price: costs[i] <= 0 ? 1 : minCost / costs[i],
      performance: maxPerf > 0 ? (m.offer.benchmark?.score ?? 0) / maxPerf : 0,
      reputation: m.reputation,
      uptime: m.uptime,
    };
    const score = (w.price * components.price + w.performance * components.performance + w.reputation * components.reputation + w.uptime * components.uptime) / total;
    return { providerId: m.offer.providerId, score, components, expectedCost: costs[i],
      hasCapacity: m.active < m.offer.limits.maxConcurrentAgreements,
      canQueue: m.active < agreementCapacity(m.offer.limits.maxConcurrentAgreements),
    };
  });
}

/** The best `limit` of the scored offers, in order (a selection, not a full sort, when the limit is small). */
export function topOffers(scored: ScoredOffer[], limit: number): ScoredOffer[] {
  if (limit >= scored.length / 4) return [...scored].sort(compareScored).slice(0, limit);
  const top: ScoredOffer[] = [];
  for (const s of scored) {
    if (top.length === limit && compareScored(s, top[limit - 1]) >= 0) continue;
    let i = top.length;
    while (i > 0 && compareScored(s, top[i - 1]) < 0) i--;
    top.splice(i, 0, s);
    if (top.length > limit) top.pop();
  }
  return top;
}

/**
 * The best scored offer that has a free slot; with none free, the best that may take a waiting
 * agreement (when `queue`); otherwise none.
 */
export function bestWithCapacity(scored: ScoredOffer[], queue = false): ScoredOffer | undefined {
  let best: ScoredOffer | undefined;
  for (const s of scored) if (s.hasCapacity && (!best || compareScored(s, best) < 0)) best = s;
  if (best || !queue) return best;
  for (const s of scored) if (s.canQueue && (!best || compareScored(s, best) < 0)) best = s;
  return best;
}

/** Ranks eligible offers, best first; ties go to the lower provider id, so the order is stable. */
export function rankOffers(eligible: MarketOffer[], d: Demand, limit = Infinity): ScoredOffer[] {
  const scored = scoreOffers(eligible, d);
  return limit === Infinity ? scored.sort(compareScored) : topOffers(scored, limit);
}

/** Words for a set of exclusion counts: "3 over maxPrice.cpuSecond, 1 offline". */
export function describeCounts(counts: Partial<Record<Constraint, number>>): string {
  const parts = CONSTRAINTS.filter((c) => counts[c]).map((c) => `${counts[c]} by ${c}`);
  return parts.length ? parts.join(', ') : 'no offers at all';
}

/** The constraint that rules out the most offers (for "no offer can ever satisfy this demand"). */
export function decisiveConstraint(counts: Partial<Record<Constraint, number>>): Constraint | undefined {
  let best: Constraint | undefined;
  for (const c of CONSTRAINTS) if ((counts[c] ?? 0) > (best ? counts[best]! : 0)) best = c;
  return best;
}

export interface Assignment {
  index: number;
  providerId: string | null;
}

/**
 * Assigns subtasks (all under one demand) to the best offers with free capacity, one filter and
 * one ranking for the batch; a subtask never goes to a provider in its own exclusion set.
 */
export function assignSubtasks(offers: MarketOffer[], d: Demand, subtasks: Array<{ index: number; exclude?: ReadonlySet<string> }>): Assignment[] {
  const ranked = rankOffers(filterOffers(offers, d).eligible, d);
  const free = new Map(offers.map((m) => [m.offer.providerId, m.offer.limits.maxConcurrentAgreements - m.active]));
  let cursor = 0; // ranked[cursor..] may still have capacity
  return subtasks.map(({ index, exclude }) => {
    while (cursor < ranked.length && (free.get(ranked[cursor].providerId) ?? 0) <= 0) cursor++;
    for (let i = cursor; i < ranked.length; i++) {
      const id = ranked[i].providerId;
      if ((free.get(id) ?? 0) > 0 && !exclude?.has(id)) {
        free.set(id, free.get(id)! - 1);
        return { index, providerId: id };
      }
    }
    return { index, providerId: null };
  });
}

/** Where one placement goes, as `choosePlacement` decides it. */
export type PlacementChoice =
  | { kind: 'placed'; offer: MarketOffer; winner: ScoredOffer; scored: ScoredOffer[]; filtered: FilterResult }
  | { kind: 'busy'; eligible: MarketOffer[] }
  | { kind: 'noMatch'; offersSeen: number; counts: Partial<Record<Constraint, number>> };

/**
 * The best eligible offer with a free slot, else one that can take an agreement waiting behind
 * a busy slot. Providers in `exclude` are out; those in `avoid` (they failed this subtask) are
 * used only when no other is eligible. A placement counts against its provider at once
 * (`active` goes up), so placements decided one after another over the same offers (a batch)
 * see each other's load.
 */
export function choosePlacement(offers: MarketOffer[], d: Demand, exclude: ReadonlySet<string>, avoid: ReadonlySet<string>, keepExcluded = Infinity): PlacementChoice {
  let filtered = filterOffers(offers, d, new Set([...exclude, ...avoid]), keepExcluded);
  if (!filtered.eligible.length && avoid.size) filtered = filterOffers(offers, d, exclude, keepExcluded);
  if (!filtered.eligible.length) return { kind: 'noMatch', offersSeen: offers.length, counts: filtered.counts };
  const scored = scoreOffers(filtered.eligible, d);
  const winner = bestWithCapacity(scored, true);
  if (!winner) return { kind: 'busy', eligible: filtered.eligible };
  const offer = filtered.eligible.find((m) => m.offer.providerId === winner.providerId)!;
  offer.active++;
  return { kind: 'placed', offer, winner, scored, filtered };
}
