/**
 * A job cancelled while its budget lock waits: the workflow cancels lockBudget and calls
 * abandonLock at once, while the lockBudget activity may still be running (cancelling it does
 * not wait for it to stop). Whichever of the two records first, the allocation ends closed and
 * the escrow holds nothing of the job's. A chaos trial once ended with such a job's allocation
 * still locked: lockBudget had sent its lock after abandonLock closed the allocation.
 * Against a real chain (its own Anvil) and PostgreSQL.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPaymentActivities } from '../../activities/payments.js';
import { eventWriter } from '../../adapters/events.js';
import { connectChain, type Chain } from '../../adapters/chain.js';
import { allocationIdOf, glmToWei } from '../../core/payments.js';
import { ensureAnvil } from '../../infra/anvil.js';
import { openDatabase, type Database } from '../../schema/db.js';
import { allocations, chainTxs, jobEvents, jobs } from '../../schema/tables.js';
import { anvilKey, freshDatabase } from '../support/harness.js';

describe('a budget lock abandoned while it may still be sent', () => {
  let dir: string;
  let pid: number | undefined;
  let database: Database;
  let drop: () => Promise<void>;
  let chain: Chain;
  let payments: ReturnType<typeof createPaymentActivities>;
  const port = 18800 + Math.floor(Math.random() * 90);
  const env = new MockActivityEnvironment();
  const run = <T>(f: () => Promise<T>) => env.run(f);

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-abandon-'));
    pid = (await ensureAnvil({ port, logFile: path.join(dir, 'anvil.log') })).pid;
    const db = await freshDatabase();
    drop = db.drop;
    database = await openDatabase({ url: db.url, dataDir: dir });
    chain = await connectChain(database.db, { rpcUrl: `http://127.0.0.1:${port}`, network: 'local', privateKey: anvilKey(4), confirmations: 1, replaceAfterMs: 5000, cacheDir: path.join(dir, 'contracts') });
    payments = createPaymentActivities({ db: database.db, chain: async () => chain, addEvent: eventWriter(database.db) });
  });
  afterAll(async () => {
    await database?.close();
    await drop?.();
    if (pid) process.kill(pid, 'SIGTERM');
  });

  async function paidJob(id: string) {
    await database.db.insert(jobs).values({ id, requestorId: 'alice', spec: { name: id, budget: { amount: '2' } } as never });
  }
  const onEscrow = (jobId: string) => chain.read<readonly [string, string, bigint, bigint, bigint, boolean]>(chain.escrow, chain.contracts.GolemflowEscrow.abi, 'allocations', [allocationIdOf(jobId)]);
  const allocationOf = async (jobId: string) => (await database.db.select().from(allocations).where(eq(allocations.jobId, jobId)))[0];

  it('abandoned first: the lock that comes after sends nothing, and the allocation is closed', async () => {
    await paidJob('job-first');
    expect(await run(() => payments.abandonLock({ jobId: 'job-first' }))).toEqual({ returnedWei: '0' });
    expect(await run(() => payments.lockBudget({ jobId: 'job-first' }))).toMatchObject({ lockedWei: '0' });
    expect(await allocationOf('job-first')).toMatchObject({ state: 'closed', returnedWei: '0' });
    expect(await database.db.select().from(chainTxs).where(eq(chainTxs.jobId, 'job-first'))).toEqual([]);
    // Nothing of the job's is in the escrow.
    expect((await onEscrow('job-first'))[2]).toBe(0n);
    const events = await database.db.select({ key: jobEvents.key }).from(jobEvents).where(eq(jobEvents.jobId, 'job-first'));
    expect(events.map((e) => e.key)).toEqual(['budget-not-locked']);
  });

  it('locked first: abandoning returns the whole budget, and the allocation stays closed', async () => {
    await paidJob('job-second');
    expect(await run(() => payments.lockBudget({ jobId: 'job-second' }))).toMatchObject({ lockedWei: String(glmToWei('2')) });
    expect(await run(() => payments.abandonLock({ jobId: 'job-second' }))).toEqual({ returnedWei: String(glmToWei('2')) });
    expect(await allocationOf('job-second')).toMatchObject({ state: 'closed', lockedWei: String(glmToWei('2')), returnedWei: String(glmToWei('2')) });
    expect((await onEscrow('job-second'))[5]).toBe(true);
    // A lockBudget try still running when the job was abandoned finds the allocation closed: it stays closed.
    await run(() => payments.lockBudget({ jobId: 'job-second' }));
    expect((await allocationOf('job-second')).state).toBe('closed');
  });
});
