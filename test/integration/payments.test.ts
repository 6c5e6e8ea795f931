/**
 * Paying providers in GLM on a real chain (Anvil): a job of 10 subtasks on 3 honest providers
 * and 1 liar with redundancy 2. Each honest provider's balance rises by exactly the sum of its
 * accepted invoices; the liar gets nothing; the requestor gets the rest back; the ledger in
 * PostgreSQL equals the chain to the wei. Also: budget refusals before anything is locked, and
 * a job that pauses at its spending cap until its budget is raised.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { createPublicClient, http, type Address } from 'viem';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { glmToWei } from '../../core/payments.js';
import { ensureAnvil } from '../../infra/anvil.js';
import { allocations, chainTxs, deployments, invoices } from '../../schema/tables.js';
import type { ProviderNode } from '../../workers/provider.js';
import { countPrimesBelow } from '../support/primes.js';
import { SUBMIT, startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';
import { progressQuery } from '../../workflows/definitions.js';

const image = 'golemflow/compute:1';
const erc20 = [
  { type: 'function', name: 'balanceOf', stateMutability: 'view', inputs: [{ name: 'a', type: 'address' }], outputs: [{ name: '', type: 'uint256' }] },
] as const;

describe('GLM payments on the local chain', () => {
  let market: TestMarket;
  let liar: ProviderNode;
  const honest: ProviderNode[] = [];
  const pub = createPublicClient({ transport: http(inject('chainRpcUrl')) });
  let token: Address;
  const balance = (a: string) => pub.readContract({ address: token, abi: erc20, functionName: 'balanceOf', args: [a as Address] });

  beforeAll(async () => {
    market = await startMarket([]);
    liar = await market.addProvider('a-liar', { misbehaviour: { mode: 'wrong-output', probability: 1, seed: 9 }, pricing: { start: 0.01, cpuSecond: 0.001, envSecond: 0.0005 } });
    for (const n of ['h1', 'h2', 'h3']) honest.push(await market.addProvider(n, { pricing: { start: 0.01, cpuSecond: 0.001, envSecond: 0.0005 } }));
  });
  afterAll(async () => {
    await market?.close();
  });

  it('pays each honest provider exactly its accepted invoices, the liar nothing, and returns the rest', async () => {
    const { requestorBalance } = await market.gql('{ requestorBalance { account glm } }');
    token = (await market.node.database.db.select().from(deployments)).find((d) => d.name === 'GLM')!.address as Address;
    const requestorBefore = await balance(requestorBalance.account);
    const before = new Map<string, bigint>();
    for (const p of [...honest, liar]) before.set(p.id, await balance(p.offer.paymentAddress!));

    const end = 500_000;
    const id = await submit(market, {
      image,
      command: ['primes', '{start}', '{end}'],
      split: { kind: 'range', start: 0, end, step: 50_000 },
      merge: { kind: 'sum' },
      redundancy: 2,
      maxParallel: 6,
      budget: { amount: '5' },
      demand: { estimateSeconds: 2 },
    });
    const job = await waitForJob(market, id, 180_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value).toBe(String(countPrimesBelow(end)));

    const db = market.node.database.db;
    const rows = await db.select().from(invoices).where(eq(invoices.jobId, id));
    // Every accepted result paid, every rejected one refused with the evidence.
    expect(rows.filter((r) => r.status === 'accepted')).toEqual([]);
    const paid = rows.filter((r) => r.status === 'paid');
    expect(paid.length).toBeGreaterThanOrEqual(20);
    for (const r of rows.filter((x) => x.providerId === liar.id)) {
      expect(r.status).toBe('rejected');
      expect(r.reason).toMatch(/result rejected: it disagreed with the accepted result/);
    }
    // On chain, to the wei: each honest provider got the sum of its paid invoices; the liar nothing.
    let totalPaid = 0n;
    for (const p of honest) {
      const owed = paid.filter((r) => r.providerId === p.id).reduce((s, r) => s + BigInt(r.amountWei), 0n);
      totalPaid += owed;
      expect((await balance(p.offer.paymentAddress!)) - before.get(p.id)!).toBe(owed);
    }
    expect(await balance(liar.offer.paymentAddress!)).toBe(before.get(liar.id)!);
    // The requestor spent exactly what was paid: the rest came back when the job ended.
    expect(requestorBefore - (await balance(requestorBalance.account))).toBe(totalPaid);
    const [alloc] = await db.select().from(allocations).where(eq(allocations.jobId, id));
    expect(alloc.state).toBe('closed');
    expect(BigInt(alloc.releasedWei)).toBe(totalPaid);
    expect(BigInt(alloc.returnedWei!)).toBe(glmToWei('5') - totalPaid);

    // The ledger: every release mined, each payment id in exactly one mined release; batched.
    const txs = await db.select().from(chainTxs).where(eq(chainTxs.jobId, id));
    const releases = txs.filter((t) => t.kind === 'release' && t.status === 'mined');
    const ids = releases.flatMap((t) => t.paymentIds);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(paid.map((p) => p.paymentId).sort());
    expect(releases.length).toBeLessThan(paid.length / 2);
    for (const p of paid) expect(releases.map((t) => t.hash)).toContain(p.txHash);

    // GraphQL: payments with hashes, a provider's earnings, the allocation.
    const q = await market.gql(
      `query($id: ID!, $p: ID!) { invoices(filter: { jobId: $id, status: [PAID] }) { nodes { paymentId txHash amount } } job(id: $id) { allocation { state locked released returned } } provider(id: $p) { earnings { paid owed refused } } }`,
      { id, p: liar.id },
    );
    expect(q.invoices.nodes).toHaveLength(paid.length);
    expect(q.invoices.nodes.every((p: any) => /^0x[0-9a-f]{64}$/.test(p.txHash))).toBe(true);
    // The same money, one representation: GLM strings that add up to the wei paid on chain.
    expect(q.invoices.nodes.reduce((s: bigint, p: any) => s + glmToWei(p.amount), 0n)).toBe(totalPaid);
    expect(q.job.allocation).toMatchObject({ state: 'CLOSED', locked: '5' });
    expect(q.provider.earnings.paid).toBe('0');
    expect(Number(q.provider.earnings.refused)).toBeGreaterThan(0);
  });

  it('refuses a bad budget, or one below the quote, before anything is locked', async () => {
    const spec = { image, command: ['primes', '{start}', '{end}'], split: { kind: 'range', start: 0, end: 10, step: 1 }, redundancy: 2 };
    const zero = await market.gql(SUBMIT, { spec: { ...spec, budget: { amount: '0' } } }).catch((e) => e);
    expect(zero.errors[0].extensions.problems).toEqual([{ path: '/budget/amount', message: 'must be a positive amount of GLM' }]);
    const token = await market.gql(SUBMIT, { spec: { ...spec, budget: { amount: '1', token: 'DOGE' } } }).catch((e) => e);
    expect(token.errors[0].extensions.problems).toEqual([{ path: '/budget/token', message: '"DOGE" is not a known token (known: GLM)' }]);
    const low = await market.gql(SUBMIT, { spec: { ...spec, budget: { amount: '0.01' }, demand: { estimateSeconds: 60 } } }).catch((e) => e);
    expect(low.errors[0].extensions.code).toBe('BUDGET_TOO_LOW');
    expect(low.errors[0].message).toMatch(/the budget of 0.01 GLM is below the market's quote of [\d.]+ GLM \(20 runs × [\d.]+ GLM, median of \d offers at 1 cpus for 60 s\)/);
    const { jobs } = await market.gql('{ jobs(first: 100) { edges { node { id } } } }');
    expect(jobs.edges).toHaveLength(1);
  });

  it('pauses a job at its spending cap until its budget is raised', async () => {
    // The quote counts the start price only (1 ms estimated); each run costs more, so the
    // budget, just above the quote, is spent before the last result is paid.
    const id = await submit(market, {
      image,
      command: ['sh', '-c', 'sleep 1; echo {start}'],
      split: { kind: 'range', start: 0, end: 4, step: 1 },
      merge: { kind: 'concat' },
      redundancy: 1,
      maxParallel: 1,
      budget: { amount: '0.041' },
      demand: { estimateSeconds: 0.001, blockedProviders: [liar.id] },
    });
    const progress: any = await vi.waitUntil(
      async () => {
        const p = (await market.node.client.workflow.getHandle(id).query(progressQuery)) as any;
        return p.status === 'paused' && p;
      },
      { timeout: 60_000, interval: 300 },
    );
    expect(progress.note).toMatch(/raise (the budget|it) \(raiseBudget\) or cancel the job/);
    const bad = await market.gql(`mutation { raiseBudget(id: "${id}", amount: "-1") { id } }`).catch((e) => e);
    expect(bad.errors[0].message).toMatch(/GLM: "-1" is not an amount of GLM/);
    const zero = await market.gql(`mutation { raiseBudget(id: "${id}", amount: "0") { id } }`).catch((e) => e);
    expect(zero.errors[0].message).toMatch(/amount: "0" .*positive amount of GLM/);
    await market.gql(`mutation { raiseBudget(id: "${id}", amount: "1") { id } }`);
    const job = await waitForJob(market, id, 90_000);
    expect(job.status).toBe('SUCCEEDED');
    const [alloc] = await market.node.database.db.select().from(allocations).where(eq(allocations.jobId, id));
    expect(BigInt(alloc.lockedWei)).toBe(glmToWei('1.041'));
    expect(BigInt(alloc.releasedWei) + BigInt(alloc.returnedWei!)).toBe(glmToWei('1.041'));
    const rows = await market.node.database.db.select().from(invoices).where(eq(invoices.jobId, id));
    expect(rows.map((r) => r.status)).toEqual(['paid', 'paid', 'paid', 'paid']);
    expect(BigInt(alloc.releasedWei)).toBe(rows.reduce((s, r) => s + BigInt(r.amountWei), 0n));
  });
});

describe('a chain that goes away during a job', () => {
  let market: TestMarket;
  let anvilPid: number | undefined;
  let dir: string;
  const port = 18600 + Math.floor(Math.random() * 300);
  const rpcUrl = `http://127.0.0.1:${port}`;
  const startChain = async () => {
    const a = await ensureAnvil({ port, logFile: path.join(dir, 'anvil.log'), stateFile: path.join(dir, 'state.json') });
    anvilPid = a.pid;
  };
  const stopChain = async () => {
    // SIGTERM: Anvil writes its state file, so the contracts and balances are there when it returns.
    if (anvilPid) process.kill(anvilPid, 'SIGTERM');
    for (let i = 0; i < 100 && (await fetch(rpcUrl, { method: 'POST' }).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
    anvilPid = undefined;
  };
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-chain-'));
    market = await startMarket([], { chainRpcUrl: rpcUrl });
    for (const n of ['c1', 'c2']) await market.addProvider(n, { pricing: { start: 0.01, cpuSecond: 0.001, envSecond: 0.0005 } });
  });
  afterAll(async () => {
    await stopChain();
    await market?.close();
  });

  it('waits, says why, and pays every accepted result once when the chain is back', async () => {
    const spec = {
      image,
      command: ['sh', '-c', 'sleep 1; echo {start}'],
      split: { kind: 'range', start: 0, end: 6, step: 1 },
      merge: { kind: 'concat' },
      redundancy: 1,
      maxParallel: 2,
      budget: { amount: '2' },
      demand: { estimateSeconds: 1 },
    };
    // No chain at all: the budget cannot be locked; the job waits and says so.
    const id = await submit(market, spec);
    const note = async () => (await market.gql('query($id: ID!) { job(id: $id) { status paymentNote } }', { id })).job;
    let j = await vi.waitUntil(async () => {
      const n = await note();
      return n.paymentNote && n;
    }, { timeout: 20_000, interval: 200 });
    expect(j.status).toBe('RUNNING');
    expect(j.paymentNote).toMatch(new RegExp(`^locking the budget waits: .*${rpcUrl}`));
    await startChain();
    // Locked once the chain answers; then the chain goes away again while results come in.
    const db = market.node.database.db;
    await vi.waitUntil(async () => (await db.select().from(allocations).where(eq(allocations.jobId, id)))[0]?.state === 'locked', { timeout: 60_000, interval: 200 });
    await stopChain();
    j = await vi.waitUntil(async () => {
      const n = await note();
      return n.paymentNote && /waits/.test(n.paymentNote) && n;
    }, { timeout: 60_000, interval: 200 });
    expect(j.paymentNote).toMatch(/(paying providers|returning the rest of the budget) waits: the chain at .* does not answer/);
    await startChain();
    const job = await waitForJob(market, id, 180_000);
    expect(job.status).toBe('SUCCEEDED');
    const rows = await db.select().from(invoices).where(eq(invoices.jobId, id));
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => r.status === 'paid')).toBe(true);
    const releases = (await db.select().from(chainTxs).where(eq(chainTxs.jobId, id))).filter((t) => t.kind === 'release' && t.status === 'mined');
    const ids = releases.flatMap((t) => t.paymentIds);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(6);
    expect((await note()).paymentNote).toBeNull();
  }, 300_000);
});
