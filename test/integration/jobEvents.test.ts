/**
 * Job events (adapters/events.ts): written in batches, one statement each, under the job's lock.
 * Subscribers page through them by seq, so seqs must follow the order the writes were made; a
 * retried activity's event (same key) is written once. PGlite, in process.
 */
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventWriter } from '../../adapters/events.js';
import { scratchPglite, type ScratchPglite } from '../support/scratch.js';
import { jobEvents, jobs } from '../../schema/tables.js';

describe('job events', () => {
  let scratch: ScratchPglite;
  beforeAll(async () => void (scratch = await scratchPglite('gf-events')));
  afterAll(() => scratch?.close());

  it('keep the order they were written in, each key once, every field', async () => {
    const { db } = scratch.database;
    await db.insert(jobs).values({ id: 'job-e', spec: { name: 'e' } as never });
    const notified: string[] = [];
    const addEvent = eventWriter(db, (jobId) => notified.push(jobId));
    // Written together: most go in batches behind the first.
    await Promise.all(Array.from({ length: 30 }, (_, i) => addEvent('job-e', `scheduled/${i}`, 'subtaskScheduled', { subtaskIndex: i })));
    await addEvent('job-e', 'scheduled/3', 'subtaskScheduled', { subtaskIndex: 3 }); // a retry
    await addEvent('job-e', 'delivered/0/1', 'resultDelivered', { subtaskIndex: 0, providerId: "p'1", message: 'attempt 1: exit code 0 in 1.0 s — "quoted"' });
    await addEvent('job-e', 'started', 'jobStarted');

    const rows = await db.select().from(jobEvents).where(eq(jobEvents.jobId, 'job-e')).orderBy(asc(jobEvents.seq));
    expect(rows.map((r) => r.key)).toEqual([...Array.from({ length: 30 }, (_, i) => `scheduled/${i}`), 'delivered/0/1', 'started']);
    expect(rows[30]).toMatchObject({ type: 'resultDelivered', subtaskIndex: 0, providerId: "p'1", message: 'attempt 1: exit code 0 in 1.0 s — "quoted"' });
    expect(rows[31]).toMatchObject({ type: 'jobStarted', subtaskIndex: null, providerId: null, message: null });
    expect(notified.length).toBe(33);
  });
});
