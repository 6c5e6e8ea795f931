/** Writes shared by the requestor and market activities: job events and the end of agreements. */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { JobEventType } from '../core/events.js';
import type { Db } from '../schema/db.js';
import { agreements, jobEvents } from '../schema/tables.js';
import { GroupCommit } from '../infra/groupCommit.js';

/**
 * Advisory lock keys. Placement takes LOCK_PLACEMENT to give out a slot; ending agreements takes
 * it too, so an agreement placed for a subtask that is ending is either seen and ended, or never
 * placed (placement checks the subtask under the same lock).
 */
export const LOCK_PLACEMENT = 1;
export const LOCK_JOB_EVENTS = 2;

export type AddEvent = (jobId: string, key: string, type: JobEventType, fields?: { subtaskIndex?: number; providerId?: string; message?: string }) => Promise<void>;

type EventRow = typeof jobEvents.$inferInsert;

/**
 * One job's event writes in this process go out in batches (infra/groupCommit.ts): written one
 * by one, 200 subtasks of a job queued about 6 events each behind a four-statement transaction
 * apiece, and the activities that wrote them waited in that queue. Waiting holds no pooled
 * connection (200 subtasks of one job waiting on the lock inside their transactions once held
 * the whole pool, and every other query of the node waited).
 */
const writers = new WeakMap<Db, Map<string, GroupCommit<EventRow, void>>>();

function writeInBatches(db: Db, jobId: string, row: EventRow): Promise<void> {
  let byJob = writers.get(db);
  if (!byJob) writers.set(db, (byJob = new Map()));
  let writer = byJob.get(jobId);
  if (!writer) {
    const jobs = byJob;
    writer = new GroupCommit<EventRow, void>(async (rows) => (await insertEvents(db, jobId, rows), rows.map(() => undefined)), { onIdle: () => jobs.delete(jobId) });
    byJob.set(jobId, writer);
  }
  return writer.submit(row);
}

async function insertEvents(db: Db, jobId: string, rows: EventRow[]): Promise<void> {
  // Subscribers read events in seq order and remember the last one; the per-job lock makes
  // seqs commit in the order they are drawn, so none becomes visible behind a later one
  // (across processes too: the queue above only batches this one's writes). One statement, its
  // own transaction: the lock is taken before the first row (and so its seq) is made, and held
  // to the commit. As a transaction of four statements a batch took four round trips, and at
  // 200 subtasks the job's event queue was busy half of the job.
  const values = rows.map((r) => ({ key: r.key, type: r.type, subtask_index: r.subtaskIndex ?? null, provider_id: r.providerId ?? null, message: r.message ?? null }));
  await db.execute(sql`
    with locked as materialized (select pg_advisory_xact_lock(${LOCK_JOB_EVENTS}, hashtext(${jobId})))
    insert into ${jobEvents} (job_id, key, type, subtask_index, provider_id, message)
    select ${jobId}, r.key, r.type, r.subtask_index, r.provider_id, r.message
    from locked, jsonb_to_recordset(${JSON.stringify(values)}::jsonb) as r(key text, type text, subtask_index integer, provider_id text, message text)
    on conflict do nothing`);
}

/** Stores job events; `key` makes a retried activity's insert a no-op. */
export function eventWriter(db: Db, onEvent?: (jobId: string) => void): AddEvent {
  return async (jobId, key, type, fields = {}) => {
    await writeInBatches(db, jobId, { jobId, key, type, ...fields });
    onEvent?.(jobId);
  };
}

/** Who ended an agreement: the requestor's workflow, the provider, or the market's sweeper. */
export type EndedBy = 'requestor' | 'provider' | 'sweeper';

/**
 * Ends the agreements still open for a job, a subtask or one attempt: approved ones are
 * terminated with the reason, proposed ones expire; both record when, by whom and why. Returns
 * how many it ended.
 *
 * It takes the placement lock, so that a placement deciding meanwhile for the same subtask is
 * either seen and ended here or sees the subtask ended and places nothing. A caller that knows no
 * placement can be in flight for the scope (`noPlacementInFlight`: an attempt that has run, a
 * subtask whose copies all settled) skips the lock: under load every recorded result waited
 * behind the placement batches for it (85 s of lock waits over a 200-subtask job).
 */
export async function endAgreement(
  db: Db,
  where: { jobId: string; index?: number; attempt?: number },
  reason: string,
  by: EndedBy = 'requestor',
  opts: { noPlacementInFlight?: boolean } = {},
): Promise<number> {
  const scope = and(
    eq(agreements.jobId, where.jobId),
    where.index === undefined ? undefined : eq(agreements.subtaskIndex, where.index),
    where.attempt === undefined ? undefined : eq(agreements.attempt, where.attempt),
  );
  // One statement: approved agreements terminate, proposed ones expire (and are decided now).
  const end = (q: Db) =>
    q
      .update(agreements)
      .set({
        state: sql`case when ${agreements.state} = 'approved' then 'terminated' else 'expired' end`,
        decidedAt: sql`case when ${agreements.state} = 'proposed' then now() else ${agreements.decidedAt} end`,
        decisionReason: sql`case when ${agreements.state} = 'proposed' then ${reason} else ${agreements.decisionReason} end`,
        endedAt: sql`now()`,
        endedBy: by,
        endReason: reason,
      })
      .where(and(scope, inArray(agreements.state, ['approved', 'proposed'])))
      .returning({ id: agreements.id });
  if (opts.noPlacementInFlight) return (await end(db)).length;
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_PLACEMENT}, 0)`);
    return (await end(tx as unknown as Db)).length;
  });
}
