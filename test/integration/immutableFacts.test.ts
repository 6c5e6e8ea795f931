/**
 * The facts the market caches because they never change once written (adapters/marketData.ts):
 * a provider's bound key and a job's spec. A provider with no key yet is asked again, so a key
 * bound later is seen; what was cached is served without the database. PGlite, in process.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { immutableFacts } from '../../adapters/marketData.js';
import { scratchPglite, type ScratchPglite } from '../support/scratch.js';
import { jobs, providers } from '../../schema/tables.js';

describe('immutable facts, cached per database', () => {
  let scratch: ScratchPglite;
  beforeAll(async () => void (scratch = await scratchPglite('gf-facts')));
  afterAll(() => scratch?.close());

  it('a key bound after the first ask is seen; a bound key and a spec are served from the cache', async () => {
    const { db } = scratch.database;
    const facts = immutableFacts(db);
    expect(immutableFacts(db)).toBe(facts);
    await db.insert(providers).values({ id: 'p1', name: 'p1', taskQueue: 'provider.p1', cpus: 1, memoryBytes: 1 << 30 });
    expect(await facts.providerKey('p1')).toBeNull();
    await db.update(providers).set({ identity: '0xabc' }).where(eq(providers.id, 'p1'));
    expect(await facts.providerKey('p1')).toBe('0xabc');

    await db.insert(jobs).values({ id: 'job-1', requestorId: 'alice', spec: { name: 'one' } as never });
    expect(await facts.job('job-1')).toEqual({ spec: { name: 'one' }, requestorId: 'alice' });
    expect(await facts.job('job-missing')).toBeNull();

    // Rows deleted behind its back: the cache still answers (these facts are never rewritten).
    await db.delete(jobs).where(eq(jobs.id, 'job-1'));
    await db.delete(providers).where(eq(providers.id, 'p1'));
    expect(await facts.providerKey('p1')).toBe('0xabc');
    expect((await facts.job('job-1'))?.requestorId).toBe('alice');
  });
});
