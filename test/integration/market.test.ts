/**
 * The market against real providers: offers with different prices and benchmarks, a provider
 * whose policy blocks the requestor, a demand no offer can meet, a provider that stops while
 * the job runs, and one that vanishes while a subtask waits for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderNode } from '../../workers/provider.js';
import { waitFor } from '../../infra/processes.js';
import { getJob, SUBMIT, startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';

const image = 'golemflow/compute:1';

describe('the market', () => {
  let market: TestMarket;
  let requestorId: string;
  const p: Record<'cheap' | 'mid' | 'pricey' | 'blocker', ProviderNode> = {} as never;

  beforeAll(async () => {
    market = await startMarket([], { livenessMs: 3000 });
    requestorId = market.node.config.requestorId;
    p.cheap = await market.addProvider('cheap', { cpus: 1, benchmark: true, pricing: { start: 0, cpuSecond: 0.00002, envSecond: 0.00001 } });
    p.mid = await market.addProvider('mid', { cpus: 0.5, benchmark: true, pricing: { start: 0, cpuSecond: 0.00005, envSecond: 0.00002 } });
    p.pricey = await market.addProvider('pricey', { cpus: 1, benchmark: true, pricing: { start: 0.001, cpuSecond: 0.0002, envSecond: 0.0001 } });
    // The cheapest of all, but it will not work for this requestor.
    p.blocker = await market.addProvider('blocker', { cpus: 1, pricing: { start: 0, cpuSecond: 0.00001, envSecond: 0.000005 }, blockedRequestors: [requestorId] });
  });
  afterAll(async () => {
    await market?.close();
  });

  it('lists the offers with their prices and benchmarks, and price quantiles', async () => {
    const { offers: page, marketStats } = await market.gql(
      '{ offers(filter: { onlineOnly: true }) { nodes { providerId online pricing { cpuSecond } benchmark { score } limits { maxConcurrentAgreements } } } marketStats { onlineProviders prices { cpuSecond { min p50 max } } } }',
    );
    const offers = page.nodes;
    expect(offers).toHaveLength(4);
    const cheap = offers.find((o: any) => o.providerId === p.cheap.id);
    const mid = offers.find((o: any) => o.providerId === p.mid.id);
    // Money is GLM, a decimal string: the price exactly as the provider set it.
    expect(cheap.pricing.cpuSecond).toBe('0.00002');
    // Half a core runs the benchmark at about half the speed.
    expect(cheap.benchmark.score).toBeGreaterThan(mid.benchmark.score * 1.4);
    expect(marketStats.onlineProviders).toBe(4);
    expect(marketStats.prices.cpuSecond).toMatchObject({ min: '0.00001', max: '0.0002' });
  });

  it('gives a "cheapest" job to the cheapest eligible providers, explains why, and never to one that blocks the requestor', async () => {
    const id = await submit(market, {
      image,
      command: ['sh', '-c', 'sleep 2; echo {start}'],
      split: { kind: 'range', start: 0, end: 2, step: 1 },
      resources: { cpus: 0.5 },
      redundancy: 1,
      demand: { preference: 'cheapest' },
    });
    const job = await waitForJob(market, id);
    expect(job.status).toBe('SUCCEEDED');
    expect(new Set(job.subtasks.map((s: any) => s.provider.id))).toEqual(new Set([p.cheap.id, p.mid.id]));
    for (const s of job.subtasks) {
      const a = s.agreement;
      expect(a.state).toBe('TERMINATED');
      expect(a.endReason).toBe('result accepted');
      expect(a.endedBy).toBe('REQUESTOR');
      expect(a.explanation.winner).toBe(a.providerId);
      expect(a.explanation.offersSeen).toBe(4);
      // The agreed price is the winner's offer.
      const offer = a.providerId === p.cheap.id ? p.cheap.offer : p.mid.offer;
      expect(Object.fromEntries(Object.entries(a.price).map(([k, v]) => [k, Number(v)]))).toEqual(offer.pricing);
      const ranked = a.explanation.ranked.map((r: any) => r.providerId);
      expect(ranked.indexOf(p.pricey.id)).toBeGreaterThan(ranked.indexOf(p.mid.id));
    }
    // The blocker was asked (it is the cheapest) and said no, with its reason; it ran nothing.
    const agreements = (await market.gql('query($p: ID!) { agreements(filter: { providerId: $p }) { nodes { state decisionReason } } }', { p: p.blocker.id })).agreements.nodes;
    expect(agreements.length).toBeGreaterThan(0);
    for (const a of agreements) {
      expect(a.state).toBe('REJECTED');
      expect(a.decisionReason).toBe(`requestor ${requestorId} is blocked by this provider`);
    }
    expect(job.subtasks.flatMap((s: any) => s.attempts).every((a: any) => a.providerId !== p.blocker.id)).toBe(true);
  });

  it('refuses, before dispatch, a demand whose highest price is below every offer', async () => {
    const err = await market
      .gql(SUBMIT, { spec: { image, command: ['true'], split: { kind: 'range', start: 0, end: 1, step: 1 }, resources: { cpus: 0.5 }, demand: { maxPrice: { cpuSecond: 0.000001 } } } })
      .catch((e) => e);
    expect(err.errors[0].extensions.code).toBe('NO_MATCHING_OFFER');
    expect(err.errors[0].message).toContain('no offer can ever satisfy this demand: maxPrice.cpuSecond rules out 4 of 4 offers');
  });

  it('moves the work of a provider that stops mid-job to the others; the stopped one leaves the market', async () => {
    const id = await submit(market, {
      image,
      command: ['sh', '-c', 'sleep 2; echo 1'],
      split: { kind: 'range', start: 0, end: 5, step: 1 },
      merge: { kind: 'sum' },
      redundancy: 1,
      resources: { cpus: 0.5 },
    });
    await waitFor('a subtask to run on the cheap provider', async () => {
      const job = await getJob(market, id);
      return job.subtasks.some((s: any) => s.status === 'RUNNING' && s.provider?.id === p.cheap.id);
    }, 30_000, 200);
    await p.cheap.close();
    const stoppedAt = Date.now();
    const job = await waitForJob(market, id);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value).toBe('5');
    const { providers } = await market.gql('{ providers { nodes { id online } } }');
    expect(providers.nodes.find((x: any) => x.id === p.cheap.id).online).toBe(false);
    // After the stop, nothing was agreed with it.
    const agreements = (await market.gql('query($p: ID!) { agreements(filter: { providerId: $p }) { nodes { proposedAt state } } }', { p: p.cheap.id })).agreements.nodes;
    expect(agreements.filter((a: any) => Date.parse(a.proposedAt) > stoppedAt + 500)).toEqual([]);
    // The subtask it was running finished elsewhere.
    const moved = job.subtasks.filter((s: any) => s.attempts.some((a: any) => a.providerId === p.cheap.id && a.status !== 'SUCCEEDED'));
    for (const s of moved) expect(s.provider.id).not.toBe(p.cheap.id);
  });

  it('waits for offers, says what excludes them, then fails with that explanation', async () => {
    // The pricey provider vanishes without withdrawing its offer, as a crash would.
    await p.pricey.close({ withdraw: false });
    // Until the liveness window passes, the market cannot tell a crash from a pause and may still agree
    // with it (the agreement then fails on pickup): submit once the market sees it offline.
    await waitFor('the market to see the pricey provider offline', async () => {
      const { providers } = await market.gql('{ providers { nodes { id online } } }');
      return providers.nodes.find((x: any) => x.id === p.pricey.id)?.online === false;
    }, 15_000, 200);
    const id = await submit(market, {
      image,
      command: ['true'],
      split: { kind: 'range', start: 0, end: 1, step: 1 },
      redundancy: 1,
      demand: { allowedProviders: [p.pricey.id], offerDeadlineSeconds: 6 },
    });
    await waitFor('the subtask to wait for offers', async () => {
      const job = await getJob(market, id);
      return job.subtasks[0].status === 'WAITING' && /1 by offline/.test(job.subtasks[0].note ?? '');
    }, 20_000, 200);
    const waiting = await getJob(market, id);
    expect(waiting.subtasks[0].note).toMatch(/^waiting for offers: \d+ offers, none eligible: 1 by offline, \d+ by notAllowed/);
    const { job: summary } = await market.gql('query($id: ID!) { job(id: $id) { status waiting note } }', { id });
    expect(summary).toMatchObject({ status: 'RUNNING', waiting: 1, note: expect.stringMatching(/^subtask 0: waiting for offers: .*1 by offline/) });
    const job = await waitForJob(market, id);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/subtask 0: no offer matched for 6 s: .*1 by offline/);
  });
});
