/**
 * A job's succeeded and failed counts follow its subtasks' status changes in the same statement
 * (schema/migrations/0011_subtask_counts.sql), so the API, CLI and dashboard read them without a
 * count over the job. Retried writes (the same status again) count once. PGlite, in process.
 */
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchPglite, type ScratchPglite } from '../support/scratch.js';
import { jobs, subtasks } from '../../schema/tables.js';

describe("a job's subtask counts", () => {
  let scratch: ScratchPglite;
  beforeAll(async () => void (scratch = await scratchPglite('gf-counts')));
  afterAll(() => scratch?.close());

  it('count each subtask once, in its latest status', async () => {
    const { db } = scratch.database;
    await db.insert(jobs).values({ id: 'job-c', spec: { name: 'c' } as never, subtaskCount: 5 });
    await db.insert(subtasks).values([0, 1, 2, 3, 4].map((index) => ({ jobId: 'job-c', index, command: ['true'], params: {}, inputs: [] })));
    const counts = async () => (await db.select({ s: jobs.succeededCount, f: jobs.failedCount }).from(jobs).where(eq(jobs.id, 'job-c')))[0];
    const set = (indexes: number[], status: 'running' | 'succeeded' | 'failed' | 'cancelled') =>
      db.update(subtasks).set({ status }).where(and(eq(subtasks.jobId, 'job-c'), inArray(subtasks.index, indexes)));

    await set([0, 1, 2], 'running');
    expect(await counts()).toEqual({ s: 0, f: 0 });
    await set([0, 1], 'succeeded');
    await set([0], 'succeeded'); // a retried acceptance
    await set([2], 'failed');
    expect(await counts()).toEqual({ s: 2, f: 1 });
    await set([2], 'cancelled'); // a failed subtask cancelled by the job's end leaves the failed count
    await set([3, 4], 'cancelled');
    expect(await counts()).toEqual({ s: 2, f: 0 });

    // Another job's subtasks do not touch this one's counts.
    await db.insert(jobs).values({ id: 'job-d', spec: { name: 'd' } as never, subtaskCount: 1 });
    await db.insert(subtasks).values({ jobId: 'job-d', index: 0, command: ['true'], params: {}, inputs: [] });
    await db.update(subtasks).set({ status: 'succeeded' }).where(eq(subtasks.jobId, 'job-d'));
    expect(await counts()).toEqual({ s: 2, f: 0 });
  });
});
