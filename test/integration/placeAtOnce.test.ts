/**
 * The market's look that may not wait (proposeAgreement with `wait: false`, the subtask
 * workflow's first look, as a local activity): it places at once while a slot is free, answers
 * busy at once when every slot is taken, and takes nothing while other subtasks wait for a slot
 * (they were first). Against the real market code on PGlite, in process.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMarketActivities } from '../../activities/market.js';
import { CapacitySignal } from '../../adapters/capacity.js';
import { eventWriter } from '../../adapters/events.js';
import { validateJobSpec } from '../../core/jobSpec.js';
import { agreements, jobs, providers, subtasks } from '../../schema/tables.js';
import { scratchPglite, type ScratchPglite } from '../support/scratch.js';

describe('a look for a provider that may not wait', () => {
  let scratch: ScratchPglite;
  let market: ReturnType<typeof createMarketActivities>;
  const capacity = new CapacitySignal();
  const env = new MockActivityEnvironment();
  const look = (index: number, wait?: boolean) => env.run(() => market.proposeAgreement({ jobId: 'job-1', index, attempt: 1, exclude: [], ...(wait === undefined ? {} : { wait }) }));

  beforeAll(async () => {
    scratch = await scratchPglite('gf-place-at-once');
    const { db } = scratch.database;
    const pricing = { start: 0, cpuSecond: 0, envSecond: 0 };
    // One slot: one run and one agreement waiting behind it (core/market.ts QUEUED_PER_SLOT).
    await db.insert(providers).values({
      id: 'p1',
      name: 'p1',
      taskQueue: 'provider.p1',
      cpus: 1,
      memoryBytes: 1 << 30,
      offer: { providerId: 'p1', cpus: 1, memoryBytes: 1 << 30, diskBytes: 1 << 30, runtimes: ['docker'], images: ['*'], pricing, limits: { maxConcurrentAgreements: 1, maxSubtaskSeconds: 600 } } as never,
    });
    await db.insert(jobs).values({ id: 'job-1', requestorId: 'alice', status: 'running', spec: validateJobSpec({ image: 'x', command: ['true'], split: { kind: 'range', start: 0, end: 4, step: 1 } }) as never, subtaskCount: 4 });
    for (let i = 0; i < 4; i++) await db.insert(subtasks).values({ jobId: 'job-1', index: i, status: 'pending', params: { start: i }, command: ['true'], inputs: [] });
    market = createMarketActivities({ db, capacity, addEvent: eventWriter(db), slotWaitMs: 3000 });
  });
  afterAll(() => scratch?.close());

  it('places while a slot is free, answers busy at once when none is, and never jumps a queue', async () => {
    expect(await look(0, false)).toMatchObject({ kind: 'proposed', providerId: 'p1' });
    expect(await look(1, false)).toMatchObject({ kind: 'proposed', providerId: 'p1' });
    // Both places are taken: busy, at once (the look that waits would wait up to slotWaitMs).
    const t0 = Date.now();
    expect(await look(2, false)).toEqual({ kind: 'busy' });
    expect(Date.now() - t0).toBeLessThan(1000);
    // It marked nothing: the look that waits says what the subtask waits for.
    const [row] = await scratch.database.db.select({ status: subtasks.status }).from(subtasks).where(and(eq(subtasks.jobId, 'job-1'), eq(subtasks.index, 2)));
    expect(row.status).toBe('pending');

    // Subtask 2 waits in the market's activity; a slot frees (its agreement ends, as a recorded result ends it).
    const waiting = look(2);
    await until(() => capacity.waiting === 1);
    const [first] = await scratch.database.db.select({ id: agreements.id }).from(agreements).where(and(eq(agreements.jobId, 'job-1'), eq(agreements.subtaskIndex, 0)));
    await scratch.database.db.update(agreements).set({ state: 'terminated', endedAt: new Date() }).where(eq(agreements.id, first.id));
    // A newcomer's look that may not wait leaves the freed place to the subtask that waited first.
    expect(await look(3, false)).toEqual({ kind: 'busy' });
    capacity.freed();
    expect(await waiting).toMatchObject({ kind: 'proposed', providerId: 'p1' });
  });
});

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error('timed out waiting for a condition');
}
