/**
 * The spine end to end: a job submitted through GraphQL runs on two real provider workers in
 * real containers, and the merged result equals the value computed here directly.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { graphqlSubscribe } from '../../sdk/transport.js';
import { countPrimesBelow } from '../support/primes.js';
import { progressQuery, type JobProgress } from '../../workflows/definitions.js';
import { startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';

/** Collects a subscription's payloads until the server ends it. */
async function readSubscription(market: TestMarket, query: string, variables: Record<string, unknown>): Promise<any[]> {
  const events = [];
  for await (const data of graphqlSubscribe(market.apiUrl, query, variables, market.apiKey)) events.push({ data });
  return events;
}

describe('a range job through GraphQL, Temporal and Docker', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket(['alpha', 'beta']);
  });
  afterAll(async () => {
    await market?.close();
  });

  it('merges the providers’ results into the directly computed answer', async () => {
    const end = 2_000_000;
    const spec = {
      name: 'primes below two million',
      image: 'golemflow/compute:1',
      command: ['primes', '{start}', '{end}'],
      split: { kind: 'range', start: 0, end, step: 250_000 },
      merge: { kind: 'sum' },
      maxParallel: 4,
    };
    const id = await submit(market, spec);
    const eventsDone = readSubscription(
      market,
      'subscription($id: ID!) { jobEvents(id: $id) { seq type subtaskIndex providerId message } }',
      { id },
    );
    const job = await waitForJob(market, id);

    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value).toBe(String(countPrimesBelow(end)));
    expect(job.subtaskCount).toBe(8);
    expect(job.succeededCount).toBe(8);
    // Which copy a subtask names as its provider is whichever was judged first (a race); that both
    // providers worked is what the attempts say.
    const used = new Set(job.subtasks.flatMap((s: any) => s.attempts.map((a: any) => a.providerId)));
    expect(used).toEqual(new Set(market.providers.map((p) => p.id)));
    for (const s of job.subtasks) expect(market.providers.map((p) => p.id)).toContain(s.provider.id);
    for (const s of job.subtasks) {
      expect(s.status).toBe('SUCCEEDED');
      // Both providers ran it and agreed.
      expect(new Set(s.attempts.map((a: any) => a.providerId)).size).toBe(2);
      expect(s.attempts.map((a: any) => a.verdict)).toEqual(['ACCEPTED', 'ACCEPTED']);
      expect(s.exitCode).toBe(0);
      expect(s.resultRef).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(s.attempts[0].wallSeconds).toBeGreaterThan(0);
      // Single-threaded work: CPU time is real and cannot exceed the wall time by more than a sample.
      expect(s.attempts[0].cpuSeconds).toBeGreaterThan(0.05);
      expect(s.attempts[0].cpuSeconds).toBeLessThanOrEqual(s.attempts[0].wallSeconds + 0.25);
      expect(Number(s.attempts[0].stdoutTail.trim())).toBeGreaterThan(0);
    }

    // The SSE subscription saw each subtask scheduled, started and finished, then the job's end.
    const events = (await eventsDone).map((e) => e.data.jobEvents);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('JOB_STARTED');
    expect(types.at(-1)).toBe('JOB_SUCCEEDED');
    // Two copies of each subtask (redundancy 2 by default), one accepted result each.
    for (const t of ['SUBTASK_SCHEDULED', 'SUBTASK_FINISHED']) expect(types.filter((x) => x === t)).toHaveLength(8);
    for (const t of ['SUBTASK_STARTED', 'RESULT_DELIVERED']) expect(types.filter((x) => x === t)).toHaveLength(16);
    expect(types).not.toContain('RESULT_REJECTED');

    // The stored result blob is served over HTTP and says what the subtask printed.
    const blob = await fetch(`${market.apiUrl}/blobs/sha256/${job.subtasks[0].resultRef.slice(7)}`, { headers: market.auth });
    expect((await blob.text()).trim()).toBe(String(countPrimesBelow(250_000)));

    // The workflow's history lives in the Temporal server, with one child per subtask.
    const connection = await Connection.connect({ address: market.temporalAddress });
    try {
      const client = new Client({ connection });
      const history = await client.workflow.getHandle(id).fetchHistory();
      const children = history.events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
      expect(children).toHaveLength(8);
      expect((await client.workflow.getHandle(id).describe()).status.name).toBe('COMPLETED');
    } finally {
      await connection.close();
    }
  });

  it('lists jobs newest first with cursor pagination and a status filter', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push(await submit(market, { name: `echo ${i}`, image: 'golemflow/compute:1', command: ['echo', '{start}'], split: { kind: 'range', start: i, end: i + 1, step: 1 }, merge: { kind: 'concat' } }));
    for (const id of ids) expect((await waitForJob(market, id)).status).toBe('SUCCEEDED');
    const q = 'query($after: String) { jobs(first: 2, after: $after, filter: { nameContains: "echo" }) { edges { cursor node { id name result { value } } } pageInfo { hasNextPage endCursor } } }';
    const p1 = (await market.gql(q)).jobs;
    expect(p1.edges.map((e: any) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(p1.pageInfo.hasNextPage).toBe(true);
    const p2 = (await market.gql(q, { after: p1.pageInfo.endCursor })).jobs;
    expect(p2.edges.map((e: any) => e.node.id)).toEqual([ids[0]]);
    expect(p2.edges[0].node.result.value).toBe('0\n');
    expect(p2.pageInfo.hasNextPage).toBe(false);
    const ok = (await market.gql('{ jobs(filter: { status: [FAILED] }) { edges { node { id } } } }')).jobs;
    expect(ok.edges).toHaveLength(0);
  });

  it("counts a batch's subtasks in the job's progress as each ends, not when the batch does", async () => {
    // maxParallel 16: both subtasks run in one batch workflow (core/batches.ts); `sleep 0`, then `sleep 30`.
    const id = await submit(market, { image: 'golemflow/compute:1', command: ['sleep', '{start}'], split: { kind: 'range', start: 0, end: 60, step: 30 }, redundancy: 1, maxParallel: 16 });
    const q = 'query($id: ID!) { job(id: $id) { succeededCount progress { running succeeded total } } }';
    const job = await vi.waitUntil(async () => {
      const j = (await market.gql(q, { id })).job;
      return j.succeededCount === 1 && j;
    }, { timeout: 60_000, interval: 200 });
    // The batch reports to the job's workflow only when it ends: its query alone still says none succeeded.
    const raw = (await market.node.client.workflow.getHandle(id).query(progressQuery)) as JobProgress;
    expect(raw).toMatchObject({ running: 2, succeeded: 0 });
    expect(job.progress).toEqual({ running: 1, succeeded: 1, total: 2 });
    await market.gql('mutation($id: ID!) { cancelJob(id: $id, reason: "seen enough") { id } }', { id });
    expect((await waitForJob(market, id)).status).toBe('CANCELLED');
  });
});

describe('the embedded PGlite database, the demo default', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket(['lite-a', 'lite-b', 'lite-c'], { pglite: true });
  });
  afterAll(async () => {
    await market?.close();
  });

  it('runs a verified job end to end', async () => {
    expect(market.node.database.location).toContain('pglite');
    const id = await submit(market, {
      image: 'golemflow/compute:1',
      command: ['primes', '{start}', '{end}'],
      split: { kind: 'range', start: 0, end: 200_000, step: 50_000 },
      merge: { kind: 'sum' },
      redundancy: 2,
    });
    const job = await waitForJob(market, id);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value).toBe(String(countPrimesBelow(200_000)));
  });
});
