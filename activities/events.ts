/** Writes shared by the requestor and market activities: job events and the end of agreements. */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../schema/db.js';
import { agreements, jobEvents } from '../schema/tables.js';

const LOCK_JOB_EVENTS = 2;

export type AddEvent = (jobId: string, key: string, type: string, fields?: { subtaskIndex?: number; providerId?: string; message?: string }) => Promise<void>;

/** Stores job events; `key` makes a retried activity's insert a no-op. */
export function eventWriter(db: Db, onEvent?: (jobId: string) => void): AddEvent {
  return async (jobId, key, type, fields = {}) => {
    // Subscribers read events in seq order and remember the last one; the per-job lock makes
    // seqs commit in the order they are drawn, so none becomes visible behind a later one.
    await db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_JOB_EVENTS}, hashtext(${jobId}))`);
      await tx.insert(jobEvents).values({ jobId, key, type, ...fields }).onConflictDoNothing();
    });
    onEvent?.(jobId);
  };
}

/**
 * Ends the agreements still open for a job, a subtask or one attempt: approved ones are
 * terminated by the requestor with the reason, proposed ones expire.
 */
export async function endAgreement(db: Db, where: { jobId: string; index?: number; attempt?: number }, reason: string): Promise<void> {
  const scope = and(
    eq(agreements.jobId, where.jobId),
    where.index === undefined ? undefined : eq(agreements.subtaskIndex, where.index),
    where.attempt === undefined ? undefined : eq(agreements.attempt, where.attempt),
  );
  await db
    .update(agreements)
    .set({ state: 'terminated', endedAt: sql`now()`, endedBy: 'requestor', endReason: reason })
    .where(and(scope, eq(agreements.state, 'approved')));
  await db
    .update(agreements)
    .set({ state: 'expired', decidedAt: sql`now()`, decisionReason: reason })
    .where(and(scope, inArray(agreements.state, ['proposed'])));
}
