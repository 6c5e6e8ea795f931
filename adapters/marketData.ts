/** Reading the market from the database: offers with liveness, load, reputation and uptime. */
import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import type { MarketOffer } from '../core/market.js';
import type { Db } from '../schema/db.js';
import { agreements, attempts, jobs, providers, subtasks } from '../schema/tables.js';
import { OPEN_AGREEMENT_STATES, type OpenAgreement } from '../core/leases.js';
import { PROVIDER_FAULTS, PROVIDER_SILENCES } from '../core/failures.js';
import { REPUTATION_HALF_LIFE_SECONDS, reputationOf, type History } from '../core/reputation.js';



/** Each provider's history from its attempts, every event weighted by its age, and the reputation it gives. */
export async function loadReputations(db: Db, providerIds?: string[]): Promise<Map<string, { reputation: number; history: History }>> {
  const half = REPUTATION_HALF_LIFE_SECONDS;
  const w = sql`power(0.5, extract(epoch from (now() - coalesce(${attempts.finishedAt}, ${attempts.startedAt}))) / ${half})`;
  const rows = await db
    .select({
      providerId: attempts.providerId,
      accepted: sql<number>`coalesce(sum(case when ${attempts.verdict} = 'accepted' then ${w} end), 0)::float8`,
      wrong: sql<number>`coalesce(sum(case when ${attempts.verdict} = 'rejected' then ${w} end), 0)::float8`,
      failures: sql<number>`coalesce(sum(case when ${attempts.status} = 'failed' and ${attempts.failureType} in (${sql.join(PROVIDER_FAULTS.map((f) => sql`${f}`), sql`, `)}) then ${w} end), 0)::float8`,
      timeouts: sql<number>`coalesce(sum(case when ${attempts.status} = 'failed' and ${attempts.failureType} in (${sql.join(PROVIDER_SILENCES.map((f) => sql`${f}`), sql`, `)}) then ${w} end), 0)::float8`,
    })
    .from(attempts)
    .where(providerIds ? inArray(attempts.providerId, providerIds.length ? providerIds : ['']) : undefined)
    .groupBy(attempts.providerId);
  return new Map(rows.map((r) => {
    const history = { accepted: Number(r.accepted), wrong: Number(r.wrong), failures: Number(r.failures), timeouts: Number(r.timeouts) };
    return [r.providerId, { reputation: reputationOf(history), history }];
  }));
}

/** A provider with no history. */
export const NEUTRAL = { reputation: reputationOf({ accepted: 0, wrong: 0, failures: 0, timeouts: 0 }), history: { accepted: 0, wrong: 0, failures: 0, timeouts: 0 } };

type Row = typeof providers.$inferSelect;

/** A provider counts as online while it checks in (publishes its offer) within the liveness window. */
export function isOnline(p: Pick<Row, 'lastSeenAt' | 'withdrawnAt'>, livenessMs: number, now = Date.now()): boolean {
  return !p.withdrawnAt && now - p.lastSeenAt.getTime() < livenessMs;
}

/** Share of the time since registration the provider was seen online. */
export function uptimeOf(p: Pick<Row, 'registeredAt' | 'onlineSeconds'>, now = Date.now()): number {
  const span = (now - p.registeredAt.getTime()) / 1000;
  return span <= 0 ? 1 : Math.min(1, p.onlineSeconds / span);
}

/**
 * Reputations change slowly and cost an aggregate over every attempt: placements, which run for
 * each proposal, read them through a cache of a couple of seconds.
 */
export const REPUTATION_CACHE_MS = 2000;

export function cachedReputations(db: Db, ttlMs = REPUTATION_CACHE_MS): () => Promise<Map<string, { reputation: number; history: History }>> {
  let at = 0;
  let value: Promise<Map<string, { reputation: number; history: History }>> | undefined;
  return () => {
    if (!value || Date.now() - at > ttlMs) {
      at = Date.now();
      value = loadReputations(db).catch((e) => {
        value = undefined;
        throw e;
      });
    }
    return value;
  };
}

/** Every published, not withdrawn offer, as the market sees it now. */
export async function loadMarketOffers(
  db: Db,
  livenessMs: number,
  opts: { includeOffline?: boolean; reputations?: () => Promise<Map<string, { reputation: number; history: History }>> } = {},
): Promise<MarketOffer[]> {
  const now = Date.now();
  const rows = await db
    .select()
    .from(providers)
    .where(and(isNotNull(providers.offer), isNull(providers.withdrawnAt)));
  const load = await db
    .select({ providerId: agreements.providerId, n: sql<number>`count(*)::int` })
    .from(agreements)
    .where(inArray(agreements.state, [...OPEN_AGREEMENT_STATES]))
    .groupBy(agreements.providerId);
  const active = new Map(load.map((l) => [l.providerId, l.n]));
  const reputations = await (opts.reputations ? opts.reputations() : loadReputations(db));
  return rows
    .map((p) => ({
      offer: p.offer!,
      online: opts.includeOffline ? true : isOnline(p, livenessMs, now),
      active: active.get(p.id) ?? 0,
      reputation: (reputations.get(p.id) ?? NEUTRAL).reputation,
      uptime: uptimeOf(p, now),
    }))
    .sort((a, b) => (a.offer.providerId < b.offer.providerId ? -1 : 1));
}

/** Every open agreement (it holds a slot) with the state of its job, subtask and attempt. */
export async function loadOpenAgreements(db: Db): Promise<OpenAgreement[]> {
  const rows = await db
    .select({
      id: agreements.id,
      jobId: agreements.jobId,
      subtaskIndex: agreements.subtaskIndex,
      attempt: agreements.attempt,
      providerId: agreements.providerId,
      workflowId: agreements.workflowId,
      state: agreements.state,
      proposedAt: agreements.proposedAt,
      jobStatus: jobs.status,
      subtaskStatus: subtasks.status,
      attemptStatus: attempts.status,
    })
    .from(agreements)
    .leftJoin(jobs, eq(jobs.id, agreements.jobId))
    .leftJoin(subtasks, and(eq(subtasks.jobId, agreements.jobId), eq(subtasks.index, agreements.subtaskIndex)))
    .leftJoin(attempts, and(eq(attempts.jobId, agreements.jobId), eq(attempts.subtaskIndex, agreements.subtaskIndex), eq(attempts.number, agreements.attempt)))
    .where(inArray(agreements.state, [...OPEN_AGREEMENT_STATES]));
  return rows as OpenAgreement[];
}

type JobFacts = { spec: (typeof jobs.$inferSelect)['spec']; requestorId: string };

/**
 * Facts that never change once written, cached per database: the key a provider id is bound to
 * (bound to the first key that signs for it, for good) and a job's spec and owner (stored at
 * submission, never rewritten). They were read again for every answer, result and placement:
 * about six of a subtask's statements, each a turn of the node's busy event loop.
 */
export interface ImmutableFacts {
  /** The provider's bound key, or null while none is bound (not cached: it may be bound later). */
  providerKey(providerId: string): Promise<string | null>;
  /** The job's spec and requestor, or null when there is no such job. */
  job(jobId: string): Promise<JobFacts | null>;
}

const factsByDb = new WeakMap<Db, ImmutableFacts>();

export function immutableFacts(db: Db): ImmutableFacts {
  let facts = factsByDb.get(db);
  if (facts) return facts;
  const keys = new LRUCache<string, string>({ max: 10_000 });
  const jobFacts = new LRUCache<string, JobFacts>({ max: 1_000 });
  facts = {
    async providerKey(providerId) {
      const known = keys.get(providerId);
      if (known) return known;
      const [p] = await db.select({ identity: providers.identity }).from(providers).where(eq(providers.id, providerId));
      if (p?.identity) keys.set(providerId, p.identity);
      return p?.identity ?? null;
    },
    async job(jobId) {
      const known = jobFacts.get(jobId);
      if (known) return known;
      const [j] = await db.select({ spec: jobs.spec, requestorId: jobs.requestorId }).from(jobs).where(eq(jobs.id, jobId));
      if (j) jobFacts.set(jobId, j);
      return j ?? null;
    },
  };
  factsByDb.set(db, facts);
  return facts;
}
