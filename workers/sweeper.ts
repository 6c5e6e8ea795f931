/**
 * The market's second line: a periodic sweep on the requestor node that ends agreements which
 * outlived their reason, whatever the cause (a workflow terminated from the Temporal UI, a
 * requestor killed mid-step, a bug not found yet), and ends jobs whose workflow closed without
 * saying so. The workflows end their own agreements first; this catches what they never could.
 * Every verdict comes from core/leases.ts; this file only reads the facts and writes the ends.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import { endedState, staleReason, workflowGoneReason, type OpenAgreement } from '../core/leases.js';
import type { CapacitySignal } from '../adapters/capacity.js';
import { endAgreement, LOCK_PLACEMENT, type AddEvent } from '../adapters/events.js';
import { loadOpenAgreements } from '../adapters/marketData.js';
import type { Db } from '../schema/db.js';
import { agreements, attempts, jobs, subtasks } from '../schema/tables.js';
import { subtaskWorkflowId } from '../workflows/definitions.js';

export interface SweeperDeps {
  db: Db;
  temporal: Client;
  capacity: CapacitySignal;
  addEvent: AddEvent;
  log: (fields: Record<string, unknown>, message: string) => void;
  /** Between sweeps of the database (default 5 s). */
  intervalMs?: number;
  /** Between looks at Temporal for closed workflows (default 15 s): each costs a describe per workflow. */
  temporalEveryMs?: number;
  /** Agreements and jobs younger than this are left to their workflows (default 30 s). */
  graceMs?: number;
}

export interface SweepStats {
  sweeps: number;
  lastSweepAt: Date | null;
  lastError: string | null;
  agreementsEnded: number;
  jobsEnded: number;
}

export interface Sweeper {
  stats(): SweepStats;
  /** One sweep now (tests; the loop runs them on its own). */
  sweep(opts?: { temporal?: boolean }): Promise<{ agreementsEnded: number; jobsEnded: number }>;
  stop(): Promise<void>;
}

export function startSweeper(deps: SweeperDeps): Sweeper {
  const { db } = deps;
  const intervalMs = deps.intervalMs ?? 5_000;
  const temporalEveryMs = deps.temporalEveryMs ?? 15_000;
  const graceMs = deps.graceMs ?? 30_000;
  const stats: SweepStats = { sweeps: 0, lastSweepAt: null, lastError: null, agreementsEnded: 0, jobsEnded: 0 };
  let lastTemporalLook = 0;

  /** Ends one open agreement, if still in the state it was read in, saying why. */
  async function endOne(tx: Db, a: Pick<OpenAgreement, 'id' | 'state' | 'jobId' | 'subtaskIndex' | 'providerId'>, why: string): Promise<boolean> {
    const reason = `swept: ${why}`;
    const set =
      endedState(a.state) === 'expired'
        ? { state: 'expired' as const, decidedAt: sql`now()`, decisionReason: reason, endedAt: sql`now()`, endedBy: 'sweeper', endReason: reason }
        : { state: 'terminated' as const, endedAt: sql`now()`, endedBy: 'sweeper', endReason: reason };
    const rows = await tx
      .update(agreements)
      .set(set)
      .where(and(eq(agreements.id, a.id), eq(agreements.state, a.state)))
      .returning({ id: agreements.id });
    return rows.length > 0;
  }

  async function note(a: Pick<OpenAgreement, 'id' | 'jobId' | 'subtaskIndex' | 'providerId'>, why: string) {
    deps.log({ agreementId: a.id, jobId: a.jobId, subtaskIndex: a.subtaskIndex, providerId: a.providerId, reason: why }, 'sweeper ended an agreement');
    await deps.addEvent(a.jobId, `swept/${a.id}`, 'agreementSwept', { subtaskIndex: a.subtaskIndex, providerId: a.providerId, message: `agreement ${a.id} ended by the sweeper: ${why}` });
  }

  /** The database's own rules: ended jobs, subtasks and attempts, and proposals past their deadline. */
  async function sweepDatabase(): Promise<number> {
    const now = new Date();
    const ended = await db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_PLACEMENT}, 0)`);
      const out: Array<{ a: OpenAgreement; why: string }> = [];
      for (const a of await loadOpenAgreements(tx as unknown as Db)) {
        const why = staleReason(a, now);
        if (why && (await endOne(tx as unknown as Db, a, why))) out.push({ a, why });
      }
      return out;
    });
    for (const { a, why } of ended) await note(a, why);
    return ended.length;
  }

  async function workflowStatus(workflowId: string): Promise<string | null> {
    try {
      return (await deps.temporal.workflow.getHandle(workflowId).describe()).status.name;
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return null;
      throw e;
    }
  }

  /**
   * Temporal's word: agreements whose subtask workflow is closed or unknown, and jobs the
   * database still counts as live whose workflow closed without recording an end (it was
   * terminated, or never started).
   */
  async function sweepTemporal(): Promise<{ agreements: number; jobs: number }> {
    const before = new Date(Date.now() - graceMs);
    const open = (await loadOpenAgreements(db)).filter((a) => a.proposedAt < before);
    const statusOf = new Map<string, string | null>();
    let endedAgreements = 0;
    for (const a of open) {
      const wf = a.workflowId ?? subtaskWorkflowId(a.jobId, a.subtaskIndex);
      if (!statusOf.has(wf)) statusOf.set(wf, await workflowStatus(wf));
      const why = workflowGoneReason(wf, statusOf.get(wf)!);
      if (!why) continue;
      const done = await db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_PLACEMENT}, 0)`);
        return endOne(tx as unknown as Db, a, why);
      });
      if (done) {
        endedAgreements++;
        await note(a, why);
      }
    }

    let endedJobs = 0;
    const live = await db
      .select({ id: jobs.id, status: jobs.status })
      .from(jobs)
      .where(and(inArray(jobs.status, ['queued', 'running']), lt(jobs.createdAt, before)))
      .limit(200);
    for (const j of live) {
      const status = await workflowStatus(j.id);
      if (status === 'RUNNING' || status === 'CONTINUED_AS_NEW') continue;
      // Its workflow recorded no end: completed ones always do (finishJob), so this one was
      // terminated, timed out, or never started. The job ends here, and so does all it held.
      const final = status === 'CANCELED' ? 'cancelled' : 'failed';
      const error = status === null ? 'its workflow never started or was deleted (ended by the sweeper)' : `its workflow was ${status.toLowerCase().replace(/_/g, ' ')} outside Golemflow (ended by the sweeper)`;
      const rows = await db
        .update(jobs)
        .set({ status: final, error, finishedAt: sql`coalesce(${jobs.finishedAt}, now())` })
        .where(and(eq(jobs.id, j.id), inArray(jobs.status, ['queued', 'running'])))
        .returning({ id: jobs.id });
      if (!rows.length) continue;
      await db
        .update(subtasks)
        .set({ status: 'cancelled', error, finishedAt: sql`now()` })
        .where(and(eq(subtasks.jobId, j.id), inArray(subtasks.status, ['pending', 'scheduled', 'waiting', 'running'])));
      await db
        .update(attempts)
        .set({ status: 'cancelled', reason: error, finishedAt: sql`now()` })
        .where(and(eq(attempts.jobId, j.id), eq(attempts.status, 'running')));
      endedAgreements += await endAgreement(db, { jobId: j.id }, `swept: job ${j.id} ended: ${error}`, 'sweeper');
      endedJobs++;
      deps.log({ jobId: j.id, workflowStatus: status, status: final }, 'sweeper ended a job whose workflow had closed');
      await deps.addEvent(j.id, 'ended', final === 'cancelled' ? 'jobCancelled' : 'jobFailed', { message: error });
    }
    return { agreements: endedAgreements, jobs: endedJobs };
  }

  async function sweep(opts: { temporal?: boolean } = {}) {
    let agreementsEnded = await sweepDatabase();
    let jobsEnded = 0;
    if (opts.temporal ?? Date.now() - lastTemporalLook >= temporalEveryMs) {
      lastTemporalLook = Date.now();
      const t = await sweepTemporal();
      agreementsEnded += t.agreements;
      jobsEnded = t.jobs;
    }
    stats.sweeps++;
    stats.lastSweepAt = new Date();
    stats.lastError = null;
    stats.agreementsEnded += agreementsEnded;
    stats.jobsEnded += jobsEnded;
    if (agreementsEnded) deps.capacity.freed(agreementsEnded);
    return { agreementsEnded, jobsEnded };
  }

  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(() =>
      sweep().catch((e: Error) => {
        // The database or Temporal may be down for a while (a restart): the next sweep tries again.
        stats.lastError = e.message;
        deps.log({ err: e.message }, 'sweep failed; will try again');
      }),
    );
  }, intervalMs);
  timer.unref();

  return {
    stats: () => ({ ...stats }),
    sweep: (opts) => {
      const next = running.then(() => sweep(opts));
      running = next.catch(() => undefined);
      return next;
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
