/**
 * Trust no single provider: three honest providers and one that lies, with redundancy 2; and a
 * provider that hangs, found by its heartbeat timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPUTATION_CACHE_MS } from '../../adapters/marketData.js';
import type { ProviderNode } from '../../workers/provider.js';
import { countPrimesBelow } from '../support/primes.js';
import { startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';

const image = 'golemflow/compute:1';

describe('verification with a liar among honest providers', () => {
  let market: TestMarket;
  let liar: ProviderNode;
  const honest: ProviderNode[] = [];
  beforeAll(async () => {
    market = await startMarket([]);
    // Ids sort first on ties, so the liar is offered work early.
    liar = await market.addProvider('a-liar', { misbehaviour: { mode: 'wrong-output', probability: 1, seed: 7 } });
    for (const n of ['h1', 'h2', 'h3']) honest.push(await market.addProvider(n));
  });
  afterAll(async () => {
    await market?.close();
  });

  it('merges only honest results, rejects every answer of the liar, and its reputation falls out of the market', async () => {
    const end = 600_000;
    const id = await submit(market, {
      image,
      command: ['primes', '{start}', '{end}'],
      split: { kind: 'range', start: 0, end, step: 100_000 },
      merge: { kind: 'sum' },
      redundancy: 2,
      maxParallel: 6,
    });
    const job = await waitForJob(market, id, 120_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value).toBe(String(countPrimesBelow(end)));

    const all = job.subtasks.flatMap((s: any) => s.attempts);
    const byLiar = all.filter((a: any) => a.providerId === liar.id && a.status === 'SUCCEEDED');
    expect(byLiar.length).toBeGreaterThan(0);
    for (const a of byLiar) expect(a.verdict).toBe('REJECTED');
    for (const s of job.subtasks) {
      expect(s.provider.id).not.toBe(liar.id);
      const accepted = s.attempts.filter((a: any) => a.verdict === 'ACCEPTED');
      expect(accepted.length).toBeGreaterThanOrEqual(2);
      // Where the liar answered, a tie-breaker was brought in and the majority won.
      if (s.attempts.some((a: any) => a.providerId === liar.id && a.verdict === 'REJECTED')) expect(Object.values(s.votes).sort()).toEqual([1, 2]);
    }
    const { providers } = await market.gql('{ providers { nodes { id reputation history { accepted wrong } } } }');
    const rep = Object.fromEntries(providers.nodes.map((p: any) => [p.id, p]));
    expect(rep[liar.id].reputation).toBeLessThan(0.2);
    expect(rep[liar.id].history.accepted).toBe(0);
    for (const h of honest) expect(rep[h.id].reputation).toBeGreaterThan(0.5);

    // Below the floor, the liar gets no more work (once placement's reputation cache has caught up).
    await new Promise((r) => setTimeout(r, REPUTATION_CACHE_MS + 200));
    const again = await submit(market, { image, command: ['echo', '{start}'], split: { kind: 'range', start: 0, end: 3, step: 1 }, redundancy: 2, merge: { kind: 'concat' } });
    const second = await waitForJob(market, again);
    expect(second.status).toBe('SUCCEEDED');
    expect(second.subtasks.flatMap((s: any) => s.agreements).every((a: any) => a.providerId !== liar.id)).toBe(true);
    expect(second.subtasks[0].agreement.explanation.excludedCounts.reputation).toBe(1);
  });
});

describe('a provider that hangs', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket([]);
    await market.addProvider('a-hangs', { misbehaviour: { mode: 'hang', probability: 1, seed: 1 } });
    await market.addProvider('b-works');
  });
  afterAll(async () => {
    await market?.close();
  });

  it('is found by its heartbeat timeout and the work completes elsewhere', async () => {
    const started = Date.now();
    const id = await submit(market, {
      image,
      command: ['echo', '42'],
      split: { kind: 'range', start: 0, end: 1, step: 1 },
      merge: { kind: 'sum' },
      redundancy: 1,
      retries: { maxAttempts: 2, heartbeatTimeoutSeconds: 3 },
    });
    const job = await waitForJob(market, id, 60_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value).toBe('42');
    const [first, second] = job.subtasks[0].attempts;
    expect(first).toMatchObject({ providerId: market.providers[0].id, status: 'FAILED', failureType: 'PROVIDER_SILENT' });
    expect(first.reason).toContain('stopped heartbeating (no heartbeat for 3 s)');
    expect(second).toMatchObject({ providerId: market.providers[1].id, status: 'SUCCEEDED' });
    // Found within the heartbeat timeout, not the subtask's 600 s limit.
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('adaptive verification', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket(['x1', 'x2', 'x3']);
  });
  afterAll(async () => {
    await market?.close();
  });

  const spec = (adaptive?: object) => ({
    image,
    command: ['echo', '{start}'],
    split: { kind: 'range', start: 0, end: 6, step: 1 },
    merge: { kind: 'concat' },
    redundancy: 2,
    maxParallel: 3,
    ...(adaptive ? { verification: { adaptive } } : {}),
  });
  const plans = async (id: string) =>
    (await market.gql('query($id: ID!) { job(id: $id) { events(first: 500) { nodes { type message } } } }', { id })).job.events.nodes.filter((e: any) => e.type === 'VERIFICATION_PLANNED').map((e: any) => e.message);

  it('lets providers with a record work alone, spot-checks them at the rate asked, and records each draw', async () => {
    // Warm-up jobs build every provider's record (two copies of each subtask agree) until each
    // has the two accepted results trust needs: under load one job may leave a provider short.
    const accepted = async () => Promise.all(market.providers.map(async (p) => (await market.gql('query($id: ID!) { provider(id: $id) { history { accepted } } }', { id: p.id })).provider.history.accepted as number));
    for (let round = 0; round < 4 && (round === 0 || (await accepted()).some((n) => n < 3)); round++) {
      const warmup = await waitForJob(market, await submit(market, spec()));
      expect(warmup.status).toBe('SUCCEEDED');
    }
    expect(Math.min(...(await accepted()))).toBeGreaterThanOrEqual(3);

    const solo = await waitForJob(market, await submit(market, spec({ trustAfter: 2, minReputation: 0.6, soloRate: 1, spotCheckRate: 0 })));
    expect(solo.status).toBe('SUCCEEDED');
    expect(solo.subtasks.map((s: any) => s.attempts.length), JSON.stringify({ attempts: solo.subtasks.map((s: any) => s.attempts), plans: await plans(solo.id) })).toEqual([1, 1, 1, 1, 1, 1]);
    const soloPlans = await plans(solo.id);
    expect(soloPlans).toHaveLength(6);
    for (const p of soloPlans) expect(p).toMatch(/^seed \d+, draws solo 0\.\d{3} spot 0\.\d{3}: .* trusted, alone/);

    const checked = await waitForJob(market, await submit(market, spec({ trustAfter: 2, minReputation: 0.6, soloRate: 1, spotCheckRate: 1 })));
    expect(checked.status).toBe('SUCCEEDED');
    expect(checked.subtasks.map((s: any) => s.attempts.length)).toEqual([2, 2, 2, 2, 2, 2]);
    for (const p of await plans(checked.id)) expect(p).toContain('spot check');
  });
});
