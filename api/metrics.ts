/**
 * The requestor node's /metrics: what the market holds, read from the database at each scrape
 * (so two requestor workers on one database report the same figures), plus Temporal's SDK
 * metrics (infra/metrics.ts). Counts by status and state are gauges: they go down as well as up.
 */
import { eq, inArray, sql } from 'drizzle-orm';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { isOnline } from '../adapters/marketData.js';
import { OPEN_AGREEMENT_STATES } from '../core/leases.js';
import { nodeRegistry } from '../infra/metrics.js';
import type { Db } from '../schema/db.js';
import { AGREEMENT_STATES, agreements, ATTEMPT_STATUSES, attempts, invoices, JOB_STATUSES, jobs, providers, SUBTASK_STATUSES, subtasks } from '../schema/tables.js';

const WEI_PER_GLM = 1e18;

/** What the node's activities report as it happens (attempts finishing). */
export interface RequestorMetricsHooks {
  attemptFinished(a: { status: string; failureType: string | null; wallSeconds: number | null; observedSeconds: number | null }): void;
}

export function requestorMetrics(db: Db, opts: { node: string; providerLivenessMs: number }): { registry: Registry; hooks: RequestorMetricsHooks } {
  const registry = nodeRegistry({ node: opts.node });
  const attemptsFinished = new Counter({ name: 'golemflow_attempts_finished_total', help: 'Attempts finished on this node, by status and failure type', labelNames: ['status', 'failureType'], registers: [registry] });
  const buckets = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600];
  const runSeconds = new Histogram({ name: 'golemflow_attempt_run_seconds', help: "Containers' own run time (wall seconds, as bounded by the market)", buckets, registers: [registry] });
  const roundTrip = new Histogram({
    name: 'golemflow_attempt_round_trip_seconds',
    help: 'From handing the run to the provider to its answer: the container plus inputs, outputs, queueing behind a busy slot and Temporal',
    buckets,
    registers: [registry],
  });
  const hooks: RequestorMetricsHooks = {
    attemptFinished(a) {
      attemptsFinished.inc({ status: a.status, failureType: a.failureType ?? '' });
      if (a.wallSeconds !== null) runSeconds.observe(a.wallSeconds);
      if (a.observedSeconds !== null) roundTrip.observe(a.observedSeconds);
    },
  };
  const n = sql<number>`count(*)::int`;

  /** A gauge set from one grouped count at each scrape (every known label value, 0 when none). */
  const byStatus = (name: string, help: string, label: string, known: readonly string[], read: () => Promise<Array<{ k: string; n: number }>>) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      async collect() {
        const rows = await read();
        for (const k of new Set([...known, ...rows.map((r) => r.k)])) this.set({ [label]: k }, rows.find((r) => r.k === k)?.n ?? 0);
      },
    });

  byStatus('golemflow_jobs', 'Jobs by status', 'status', JOB_STATUSES, () =>
    db.select({ k: jobs.status, n }).from(jobs).groupBy(jobs.status),
  );
  byStatus('golemflow_subtasks', 'Subtasks by status', 'status', SUBTASK_STATUSES, () =>
    db.select({ k: subtasks.status, n }).from(subtasks).groupBy(subtasks.status),
  );
  byStatus('golemflow_attempts', 'Attempts (container runs) by status', 'status', ATTEMPT_STATUSES, () =>
    db.select({ k: attempts.status, n }).from(attempts).groupBy(attempts.status),
  );
  byStatus('golemflow_agreements', 'Agreements by state', 'state', AGREEMENT_STATES, () =>
    db.select({ k: agreements.state, n }).from(agreements).groupBy(agreements.state),
  );
  byStatus('golemflow_invoices', 'Invoices by status (accepted: owed, paid: released on chain, rejected: a wrong result)', 'status', ['accepted', 'paid', 'rejected'], () =>
    db.select({ k: invoices.status, n }).from(invoices).groupBy(invoices.status),
  );
  new Gauge({
    name: 'golemflow_glm_paid',
    help: 'GLM released to providers on chain (paid invoices)',
    registers: [registry],
    async collect() {
      const [r] = await db.select({ wei: sql<string>`coalesce(sum(${invoices.amountWei}), 0)::text` }).from(invoices).where(eq(invoices.status, 'paid'));
      this.set(Number(r.wei) / WEI_PER_GLM);
    },
  });
  new Gauge({
    name: 'golemflow_subtasks_waiting_oldest_seconds',
    help: 'How long the longest-waiting subtask has waited for an offer or a free slot (0: none waits)',
    registers: [registry],
    async collect() {
      const [r] = await db
        .select({ s: sql<number>`coalesce(extract(epoch from (now() - min(${subtasks.waitingSince}))), 0)::float8` })
        .from(subtasks)
        .where(eq(subtasks.status, 'waiting'));
      this.set(r.s);
    },
  });
  // Slots: what online providers offer, what open agreements hold, and what waits behind them.
  const market = async () => {
    const rows = await db.select({ id: providers.id, slots: providers.slots, lastSeenAt: providers.lastSeenAt, withdrawnAt: providers.withdrawnAt }).from(providers);
    const open = await db
      .select({ providerId: agreements.providerId, n })
      .from(agreements)
      .where(inArray(agreements.state, [...OPEN_AGREEMENT_STATES]))
      .groupBy(agreements.providerId);
    const online = rows.filter((p) => isOnline(p, opts.providerLivenessMs));
    let inUse = 0;
    let queued = 0;
    for (const p of rows) {
      const held = open.find((o) => o.providerId === p.id)?.n ?? 0;
      inUse += Math.min(held, p.slots);
      queued += Math.max(0, held - p.slots);
    }
    return { online: online.length, offered: online.reduce((sum, p) => sum + p.slots, 0), inUse, queued };
  };
  new Gauge({
    name: 'golemflow_providers_online',
    help: 'Providers whose offer is current',
    registers: [registry],
    async collect() {
      this.set((await market()).online);
    },
  });
  new Gauge({
    name: 'golemflow_slots',
    help: 'Provider slots: offered (online providers), inUse (held by open agreements), queued (agreements waiting behind a busy slot)',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const m = await market();
      this.set({ kind: 'offered' }, m.offered);
      this.set({ kind: 'inUse' }, m.inUse);
      this.set({ kind: 'queued' }, m.queued);
    },
  });
  return { registry, hooks };
}
