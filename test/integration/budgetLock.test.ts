/**
 * A budget that cannot be locked: more than the wallet holds is refused at submit; a lock that
 * waits (the chain does not answer) ends when the job is cancelled, with nothing locked.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startMarket, submit, SUBMIT, waitForJob, type TestMarket } from '../support/harness.js';

const spec = { image: 'golemflow/compute:1', command: ['echo', 'paid'], split: { kind: 'range', start: 0, end: 1, step: 1 }, redundancy: 1, demand: { estimateSeconds: 1 } };

describe('budget locks', () => {
  let market: TestMarket;
  let offline: TestMarket;
  beforeAll(async () => {
    market = await startMarket(['lock-one']);
    // A chain that never answers: nothing listens on the discard port.
    offline = await startMarket(['lock-two'], { chainRpcUrl: 'http://127.0.0.1:9' });
  });
  afterAll(async () => {
    await market?.close();
    await offline?.close();
  });

  it('refuses at submit a budget beyond what the wallet holds, and makes no job', async () => {
    const { requestorBalance } = await market.gql('{ requestorBalance { account glm } }');
    const tooMuch = String(BigInt(requestorBalance.glm.split('.')[0]) * 10n + 1n);
    const e = await market.gql(SUBMIT, { spec: { ...spec, budget: { amount: tooMuch } } }).catch((x) => x);
    expect(e.errors?.[0]).toMatchObject({
      message: `the budget of ${tooMuch} GLM is more than the requestor's wallet ${requestorBalance.account} holds (${requestorBalance.glm} GLM); it could never be locked`,
      extensions: { code: 'INSUFFICIENT_FUNDS' },
    });
    expect((await market.gql('{ jobs(first: 10) { edges { node { id } } } }')).jobs.edges).toEqual([]);
  });

  it('a job whose budget lock waits for the chain is cancelled at once, with nothing locked', async () => {
    const id = await submit(offline, { ...spec, budget: { amount: '1' } });
    await vi.waitUntil(async () => /locking the budget waits/.test((await offline.gql('query($id: ID!) { job(id: $id) { paymentNote } }', { id })).job.paymentNote ?? ''), { timeout: 30_000, interval: 250 });
    const started = Date.now();
    await offline.gql('mutation($id: ID!) { cancelJob(id: $id, reason: "no chain today") { id } }', { id });
    const job = await waitForJob(offline, id, 30_000);
    expect(job.status).toBe('CANCELLED');
    expect(job.error).toBe('no chain today');
    expect(Date.now() - started).toBeLessThan(15_000);
    const { job: paid } = await offline.gql('query($id: ID!) { job(id: $id) { paymentNote allocation { state } events { nodes { type message } } } }', { id });
    expect(paid.paymentNote).toBeNull();
    expect(paid.events.nodes.map((e: any) => e.type)).toContain('BUDGET_RETURNED');
    expect(paid.events.nodes.find((e: any) => e.type === 'BUDGET_RETURNED').message).toBe('the job ended before its budget was locked: nothing was locked, nothing is returned');
  });
});
