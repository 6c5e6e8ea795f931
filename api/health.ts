/**
 * marketHealth: what an operator at 3 a.m. asks first. Are slots held by agreements that outlived
 * their reason? Do subtasks wait past their deadline? Does the sweeper run? Empty on a healthy
 * market. The verdicts are the sweeper's own rules (core/leases.ts), so the report names exactly
 * what the next sweep will end.
 */
import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import { loadByProvider, OPEN_AGREEMENT_STATES, staleReason } from '../core/leases.js';
import { isOnline, loadOpenAgreements } from '../adapters/marketData.js';
import { agreementCapacity } from '../core/market.js';
import { agreements, jobs, providers, subtasks } from '../schema/tables.js';
import type { ApiDeps } from './deps.js';

export function healthResolvers(deps: ApiDeps) {
  const { db } = deps;
  const livenessMs = deps.config.providerLivenessMs;
  return {
    Query: {
      marketHealth: async () => {
        const now = new Date();
        const open = await loadOpenAgreements(db);
        const stale = open.flatMap((a) => {
          const reason = staleReason(a, now);
          return reason ? [{ a, reason }] : [];
        });
        const staleRows = stale.length ? await db.select().from(agreements).where(inArray(agreements.id, stale.map((s) => s.a.id))) : [];
        const byProvider = loadByProvider(open);
        const rows = await db.select().from(providers).orderBy(providers.id);
        const load = rows
          .map((p) => ({ p, online: isOnline(p, livenessMs, now.getTime()), held: byProvider.get(p.id) }))
          .filter((x) => x.online || x.held)
          .map(({ p, online, held }) => {
            const open = held?.agreements ?? 0;
            return { providerId: p.id, online, slots: p.slots, inUse: Math.min(open, p.slots), queued: Math.max(0, open - p.slots), jobs: held?.jobs ?? [] };
          });

        // Waiting longer than the job's own offer deadline (default 300 s).
        const deadline = sql<number>`coalesce((${jobs.spec} -> 'demand' ->> 'offerDeadlineSeconds')::int, 300)`;
        const overdue = await db
          .select({
            jobId: subtasks.jobId,
            index: subtasks.index,
            note: subtasks.note,
            waitingSeconds: sql<number>`extract(epoch from (now() - ${subtasks.waitingSince}))::float8`,
            deadlineSeconds: deadline,
          })
          .from(subtasks)
          .innerJoin(jobs, eq(jobs.id, subtasks.jobId))
          .where(and(eq(subtasks.status, 'waiting'), lt(subtasks.waitingSince, sql`now() - make_interval(secs => ${deadline})`)))
          .orderBy(subtasks.waitingSince)
          .limit(100);

        const sweeper = deps.sweeper?.stats() ?? null;
        const problems = [
          ...stale.map((s) => `agreement ${s.a.id} (${s.a.state}, provider ${s.a.providerId}) is still open although ${s.reason}`),
          ...overdue.map((o) => `subtask ${o.index} of ${o.jobId} has waited ${Math.round(o.waitingSeconds)} s, past its deadline of ${o.deadlineSeconds} s${o.note ? `: ${o.note}` : ''}`),
          ...load
            .filter((l) => l.inUse + l.queued > agreementCapacity(l.slots))
            .map((l) => `provider ${l.providerId} holds ${l.inUse + l.queued} agreements on ${l.slots} slots (at most ${agreementCapacity(l.slots)})`),
          ...(sweeper?.lastError ? [`the sweeper's last sweep failed: ${sweeper.lastError}`] : []),
        ];
        return {
          healthy: problems.length === 0,
          problems,
          slotsOffered: load.filter((l) => l.online).reduce((n, l) => n + l.slots, 0),
          slotsInUse: load.reduce((n, l) => n + l.inUse, 0),
          agreementsQueued: load.reduce((n, l) => n + l.queued, 0),
          providers: load,
          staleAgreements: stale.map((s) => ({ agreement: staleRows.find((r) => r.id === s.a.id)!, reason: s.reason })).filter((s) => s.agreement),
          overdueSubtasks: overdue,
          sweeper,
        };
      },
    },
    Provider: {
      openAgreements: async (p: { id: string }) => {
        const open = await db
          .select({ id: agreements.id })
          .from(agreements)
          .where(and(eq(agreements.providerId, p.id), inArray(agreements.state, [...OPEN_AGREEMENT_STATES])));
        return open.map((a) => a.id);
      },
    },
  };
}
