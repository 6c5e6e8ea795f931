/**
 * Placement in batches: under the placement lock, one read of the offers and of what the
 * batch's subtasks hold, then each placement decided in order (core/market.ts choosePlacement:
 * each sees the load of those before it), and one insert of the agreements. The lock keeps two
 * nodes (or a placement and the end of its subtask) from deciding on the same slots at once.
 */
import { and, count, eq, inArray, or, sql } from 'drizzle-orm';
import { choosePlacement, describeCounts, topOffers, type Demand } from '../core/market.js';
import { OPEN_AGREEMENT_STATES, busyNote } from '../core/leases.js';
import type { Db } from '../schema/db.js';
import { agreements, attempts, jobs, providers, subtasks, type MatchExplanation } from '../schema/tables.js';
import { LOCK_PLACEMENT } from './events.js';
import { loadMarketOffers, type loadReputations } from './marketData.js';

/** One attempt's ask for a provider. */
export interface PlacementRequest {
  jobId: string;
  index: number;
  attempt: number;
  /** Providers it must not use. */
  exclude: string[];
  /** Providers that failed this subtask: used only when no other is eligible. */
  avoid: string[];
  demand: Demand;
  /** Say with what every eligible provider is busy (asked now and then, not on every look). */
  describeBusy: boolean;
  /** The workflow asking (the sweeper's question to Temporal when the agreement outlives it). */
  workflowId?: string;
}

export type PlacementOutcome =
  | { kind: 'ended'; reason: string }
  | { kind: 'noMatch'; explanation: string }
  | { kind: 'busy'; note: string | null }
  | { kind: 'proposed'; row: typeof agreements.$inferSelect; taskQueue: string };

/** A subtask or job in one of these states gets no new agreement. */
const ENDED = ['succeeded', 'failed', 'cancelled'];
const EXCLUDED_KEPT = 50;
const RANKED_KEPT = 10;

const subtaskKey = (jobId: string, index: number) => `${jobId}\u0000${index}`;
const attemptKey = (jobId: string, index: number, attempt: number) => `${subtaskKey(jobId, index)}\u0000${attempt}`;

/** Places a batch in one transaction `tx` (the caller's); returns an outcome per request, in order. */
export async function placeBatch(tx: Db, requests: PlacementRequest[], livenessMs: number, known: Awaited<ReturnType<typeof loadReputations>>): Promise<PlacementOutcome[]> {
  await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_PLACEMENT}, 0)`);
  const pairs = [...new Map(requests.map((r) => [subtaskKey(r.jobId, r.index), r])).values()];
  const ofSubtasks = <C extends { jobId: typeof subtasks.jobId | typeof agreements.jobId | typeof attempts.jobId }>(
    t: C,
    indexColumn: typeof subtasks.index | typeof agreements.subtaskIndex | typeof attempts.subtaskIndex,
  ) => or(...pairs.map((p) => and(eq(t.jobId, p.jobId), eq(indexColumn, p.index))));

  // A subtask (or job) that ended gets no agreement: its workflow was cancelled while this
  // placement waited, and no one would ever end the agreement (the stall of a failed job).
  const lives = await tx
    .select({ jobId: subtasks.jobId, index: subtasks.index, job: jobs.status, subtask: subtasks.status })
    .from(subtasks)
    .innerJoin(jobs, eq(jobs.id, subtasks.jobId))
    .where(ofSubtasks(subtasks, subtasks.index));
  const live = new Map(lives.map((l) => [subtaskKey(l.jobId, l.index), l]));
  const offers = await loadMarketOffers(tx, livenessMs, { reputations: async () => known });
  // Never two copies of one subtask on one provider: those holding one (an open agreement) or
  // that ran one (a result delivered) are out too, whatever the caller knew when it asked.
  const holding = await tx
    .select({ jobId: agreements.jobId, index: agreements.subtaskIndex, providerId: agreements.providerId })
    .from(agreements)
    .where(and(inArray(agreements.state, [...OPEN_AGREEMENT_STATES]), ofSubtasks(agreements, agreements.subtaskIndex)));
  const delivered = await tx
    .select({ jobId: attempts.jobId, index: attempts.subtaskIndex, providerId: attempts.providerId })
    .from(attempts)
    .where(and(inArray(attempts.status, ['running', 'succeeded']), eq(attempts.role, 'copy'), ofSubtasks(attempts, attempts.subtaskIndex)));
  const taken = new Map<string, Set<string>>();
  for (const h of [...holding, ...delivered]) {
    const k = subtaskKey(h.jobId, h.index);
    taken.set(k, (taken.get(k) ?? new Set()).add(h.providerId));
  }
  // Agreement ids number the proposals of one attempt.
  const numbered = await tx
    .select({ jobId: agreements.jobId, index: agreements.subtaskIndex, attempt: agreements.attempt, n: count() })
    .from(agreements)
    .where(or(...requests.map((r) => and(eq(agreements.jobId, r.jobId), eq(agreements.subtaskIndex, r.index), eq(agreements.attempt, r.attempt)))))
    .groupBy(agreements.jobId, agreements.subtaskIndex, agreements.attempt);
  const proposals = new Map(numbered.map((c) => [attemptKey(c.jobId, c.index, c.attempt), Number(c.n)]));

  type Decided = PlacementOutcome | { kind: 'placing'; id: string } | { kind: 'busyWith'; providerIds: string[] };
  const decided: Decided[] = [];
  const rows: Array<typeof agreements.$inferInsert> = [];
  for (const r of requests) {
    const k = subtaskKey(r.jobId, r.index);
    const l = live.get(k);
    if (!l || ENDED.includes(l.job) || ENDED.includes(l.subtask)) {
      const reason = l ? (ENDED.includes(l.job) ? `job ${r.jobId} has ended (${l.job})` : `subtask ${r.index} of ${r.jobId} has ended (${l.subtask})`) : `subtask ${r.index} of ${r.jobId} does not exist`;
      decided.push({ kind: 'ended', reason });
      continue;
    }
    const choice = choosePlacement(offers, r.demand, new Set([...r.exclude, ...(taken.get(k) ?? [])]), new Set(r.avoid), EXCLUDED_KEPT);
    if (choice.kind === 'noMatch') {
      decided.push({ kind: 'noMatch', explanation: `${choice.offersSeen} offers, none eligible: ${describeCounts(choice.counts)}` });
      continue;
    }
    if (choice.kind === 'busy') {
      decided.push(r.describeBusy ? { kind: 'busyWith', providerIds: choice.eligible.map((m) => m.offer.providerId) } : { kind: 'busy', note: null });
      continue;
    }
    const ak = attemptKey(r.jobId, r.index, r.attempt);
    const n = (proposals.get(ak) ?? 0) + 1;
    proposals.set(ak, n);
    taken.set(k, (taken.get(k) ?? new Set()).add(choice.winner.providerId));
    const explanation: MatchExplanation = {
      preference: r.demand.preference,
      offersSeen: offers.length,
      ranked: topOffers(choice.scored, RANKED_KEPT),
      excludedCounts: choice.filtered.counts,
      excluded: choice.filtered.excluded,
      winner: choice.winner.providerId,
    };
    const id = `${r.jobId}.${r.index}.${r.attempt}.${n}`;
    rows.push({
      id,
      jobId: r.jobId,
      subtaskIndex: r.index,
      attempt: r.attempt,
      providerId: choice.winner.providerId,
      requestorId: r.demand.requestorId,
      workflowId: r.workflowId ?? null,
      pricing: choice.offer.offer.pricing,
      maxDurationSeconds: r.demand.maxDurationSeconds,
      explanation,
    });
    decided.push({ kind: 'placing', id });
  }

  const inserted = rows.length ? await tx.insert(agreements).values(rows).returning() : [];
  const byId = new Map(inserted.map((a) => [a.id, a]));
  const winners = [...new Set(inserted.map((a) => a.providerId))];
  const queues = winners.length ? await tx.select({ id: providers.id, taskQueue: providers.taskQueue }).from(providers).where(inArray(providers.id, winners)) : [];
  const taskQueueOf = new Map(queues.map((q) => [q.id, q.taskQueue]));

  // Every eligible provider is busy: say with what, so a waiting subtask is never a silent one.
  const busyIds = [...new Set(decided.flatMap((d) => (d.kind === 'busyWith' ? d.providerIds : [])))];
  const holders = busyIds.length
    ? await tx
        .select({ providerId: agreements.providerId, jobId: agreements.jobId })
        .from(agreements)
        .where(and(inArray(agreements.providerId, busyIds), inArray(agreements.state, [...OPEN_AGREEMENT_STATES])))
    : [];
  const offerOf = new Map(offers.map((m) => [m.offer.providerId, m]));

  return decided.map((d): PlacementOutcome => {
    if (d.kind === 'placing') {
      const row = byId.get(d.id)!;
      return { kind: 'proposed', row, taskQueue: taskQueueOf.get(row.providerId)! };
    }
    if (d.kind === 'busyWith') {
      const busy = d.providerIds.map((providerId) => ({
        providerId,
        slots: offerOf.get(providerId)!.offer.limits.maxConcurrentAgreements,
        open: offerOf.get(providerId)!.active,
        jobs: [...new Set(holders.filter((h) => h.providerId === providerId).map((h) => h.jobId))],
      }));
      return { kind: 'busy', note: busyNote(busy) };
    }
    return d;
  });
}
