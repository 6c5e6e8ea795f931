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
  hasCapacity: boolean;
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
  return patterns.some((p) => (p.endsWith('*') ? image.startsWith(p.slice(0, -1)) : p === image));
}

/** What one subtask is expected to cost under an offer's pricing. */
export function expectedCost(pricing: Pricing, cpus: number, seconds: number): number {
  return pricing.start + pricing.cpuSecond * cpus * seconds + pricing.envSecond * seconds;
}

/** The first constraint that rules the offer out for the demand, or undefined when it is eligible. */
export function checkOffer(m: MarketOffer, d: Demand, exclude: ReadonlySet<string> = new Set()): Exclusion | undefined {
  const o = m.offer;
  const id = o.providerId;
  const no = (constraint: Constraint, detail: string): Exclusion => ({ providerId: id, constraint, detail });
  if (!m.online) return no('offline', 'not seen recently');
  if (exclude.has(id)) return no('excluded', 'already tried for this subtask or holds a copy of it');
  if (d.allowedProviders && !d.allowedProviders.includes(id)) return no('notAllowed', 'not in allowedProviders');
  if (d.blockedProviders.includes(id)) return no('blocked', 'in blockedProviders');
  if (!o.runtimes.includes(d.runtime)) return no('runtime', `offers ${o.runtimes.join(', ') || 'no runtime'}, not ${d.runtime}`);
  if (!imageAllowed(d.image, o.images)) return no('image', `does not run ${d.image}`);
  if (o.cpus < d.minCpus) return no('cpus', `${o.cpus} cpus < ${d.minCpus}`);
  if (o.memoryBytes < d.minMemoryBytes) return no('memory', `${o.memoryBytes} bytes < ${d.minMemoryBytes}`);
  if (o.diskBytes < d.minDiskBytes) return no('disk', `${o.diskBytes} bytes < ${d.minDiskBytes}`);
  if (d.gpu.count > 0) {
    if (!o.gpu || o.gpu.count < d.gpu.count) return no('gpu', `${o.gpu?.count ?? 0} GPUs < ${d.gpu.count}`);
    if (d.gpu.model && !o.gpu.model.toLowerCase().includes(d.gpu.model.toLowerCase())) return no('gpu', `GPU ${o.gpu.model} is not ${d.gpu.model}`);
  }
  for (const k of ['start', 'cpuSecond', 'envSecond'] as const) {
    const max = d.maxPrice[k];
    if (max !== undefined && o.pricing[k] > max) return no(`maxPrice.${k}`, `${k} price ${o.pricing[k]} GLM > ${max}`);
  }
  if (m.reputation < d.minReputation) return no('reputation', `reputation ${m.reputation.toFixed(2)} < ${d.minReputation}`);
  if (o.limits.maxSubtaskSeconds < d.maxDurationSeconds) return no('maxSubtaskSeconds', `takes subtasks of at most ${o.limits.maxSubtaskSeconds} s, this one may run ${d.maxDurationSeconds} s`);
  return undefined;
}

export interface FilterResult {
  eligible: MarketOffer[];
  excluded: Exclusion[];
  counts: Partial<Record<Constraint, number>>;
}

/** Splits offers into the eligible and the excluded (each with the first constraint it fails). */
export function filterOffers(offers: MarketOffer[], d: Demand, exclude: ReadonlySet<string> = new Set()): FilterResult {
  const eligible: MarketOffer[] = [];
  const excluded: Exclusion[] = [];
  const counts: Partial<Record<Constraint, number>> = {};
  for (const m of offers) {
    const why = checkOffer(m, d, exclude);
    if (why) {
      excluded.push(why);
      counts[why.constraint] = (counts[why.constraint] ?? 0) + 1;
    } else eligible.push(m);
  }
  return { eligible, excluded, counts };
}

/** Ranks eligible offers: best first; ties go to the lower provider id, so the order is stable. */
export function rankOffers(eligible: MarketOffer[], d: Demand): ScoredOffer[] {
  if (!eligible.length) return [];
  const w = weightsOf(d.preference);
  const total = w.price + w.performance + w.reputation + w.uptime || 1;
  const costs = eligible.map((m) => expectedCost(m.offer.pricing, Math.max(d.minCpus, 1), d.estimateSeconds));
  const minCost = Math.min(...costs);
  const maxPerf = Math.max(...eligible.map((m) => m.offer.benchmark?.score ?? 0));
  const scored = eligible.map((m, i) => {
    const components: Weights = {
      // The cheapest scores 1, one twice as dear 0.5; free offers all score 1.
      price: costs[i] <= 0 ? 1 : minCost / costs[i],
      performance: maxPerf > 0 ? (m.offer.benchmark?.score ?? 0) / maxPerf : 0,
      reputation: m.reputation,
      uptime: m.uptime,
    };
    const score = (w.price * components.price + w.performance * components.performance + w.reputation * components.reputation + w.uptime * components.uptime) / total;
    return { providerId: m.offer.providerId, score, components, expectedCost: costs[i], hasCapacity: m.active < m.offer.limits.maxConcurrentAgreements };
  });
  return scored.sort((a, b) => b.score - a.score || (a.providerId < b.providerId ? -1 : a.providerId > b.providerId ? 1 : 0));
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
