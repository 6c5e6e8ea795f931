/**
 * The API's one paging style on the real default database (PGlite): every list pages through
 * its rows exactly once, in its order, rows within one millisecond included; a foreign cursor is
 * bad input; money comes as GLM strings; closed sets as enums. In-process (yoga.fetch), no
 * Temporal: these reads never reach it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { buildClientSchema, buildSchema, getIntrospectionQuery, printSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiKey } from '../../api/auth.js';
import { EventBus } from '../../api/events.js';
import { createApi } from '../../api/server.js';
import type { ApiDeps } from '../../api/deps.js';
import { loadConfig } from '../../infra/config.js';
import { openDatabase, type Database } from '../../schema/db.js';
import { JOB_DETAILS } from '../../cli/golemflow.js';
import { JOB_QUERY } from '../support/harness.js';
import { agreements, invoices, jobEvents, jobs, providers, subtasks } from '../../schema/tables.js';

let dir: string;
let database: Database;
let api: ReturnType<typeof createApi>;
let key: string;

async function gql(query: string, variables: Record<string, unknown> = {}, apiKey: string | null = key) {
  const res = await api.fetch('http://api/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

/** Every node of a connection, fetched `first` at a time by following endCursor. */
async function pageAll(query: string, pick: (data: any) => any, vars: Record<string, unknown> = {}, first = 2) {
  const out: any[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const r = await gql(query, { ...vars, first, after });
    expect(r.errors).toBeUndefined();
    const conn = pick(r.data);
    expect(conn.edges.map((e: any) => e.node)).toEqual(conn.nodes);
    out.push(...conn.nodes);
    if (!conn.pageInfo.hasNextPage) return out;
    after = conn.pageInfo.endCursor;
  }
  throw new Error('paging did not end');
}

const spec = { image: 'x', command: ['true'], split: { kind: 'range', start: 0, end: 5, step: 1 } };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'golemflow-paging-'));
  database = await openDatabase({ dataDir: path.join(dir, 'pglite') });
  const db = database.db;
  key = await issueApiKey(db, 'alice');
  // Five jobs in one millisecond, microseconds apart: a cursor made from a JavaScript Date alone would skip some.
  for (let i = 0; i < 5; i++)
    await db.insert(jobs).values({ id: `job-${i}`, requestorId: 'alice', spec: spec as never, subtaskCount: 5, createdAt: sql`timestamptz '2026-11-27 06:00:00.123' + ${i} * interval '1 microsecond'` as never });
  await db.insert(jobs).values({ id: 'job-bob', requestorId: 'bob', spec: spec as never });
  for (let i = 0; i < 5; i++) await db.insert(subtasks).values({ jobId: 'job-0', index: i, status: i % 2 ? 'succeeded' : 'failed', params: { start: i }, command: ['true'], inputs: [] });
  for (let i = 0; i < 7; i++) await db.insert(jobEvents).values({ jobId: 'job-0', key: `k${i}`, type: i === 0 ? 'jobStarted' : 'subtaskScheduled', subtaskIndex: i });
  const pricing = { start: 0.001, cpuSecond: 0.00002, envSecond: 0.00001 };
  for (const id of ['p-c', 'p-a', 'p-b'])
    await db.insert(providers).values({
      id,
      name: id,
      taskQueue: `provider.${id}`,
      cpus: 1,
      memoryBytes: 1 << 30,
      lastSeenAt: id === 'p-b' ? new Date(0) : new Date(),
      offer: { providerId: id, cpus: 1, memoryBytes: 1 << 30, diskBytes: 1 << 30, runtimes: ['docker'], images: ['*'], pricing, limits: { maxConcurrentAgreements: 1, maxSubtaskSeconds: 60 } } as never,
    });
  for (let i = 0; i < 5; i++)
    await db.insert(agreements).values({
      id: `ag-${i}`,
      jobId: 'job-0',
      subtaskIndex: i,
      attempt: 1,
      providerId: 'p-a',
      requestorId: 'alice',
      state: 'terminated',
      endedBy: 'sweeper',
      pricing,
      maxDurationSeconds: 60,
      explanation: {} as never,
      proposedAt: sql`timestamptz '2026-11-27 06:00:00.5'` as never,
    });
  for (let i = 0; i < 3; i++)
    await db.insert(invoices).values({
      paymentId: `0x${i}`,
      jobId: 'job-0',
      subtaskIndex: i,
      attempt: 1,
      providerId: 'p-a',
      amountWei: '1500000000000000',
      basis: { pricing, cpuSeconds: 0.5, wallSeconds: 1 },
      status: i === 2 ? 'rejected' : 'paid',
    });
  const config = loadConfig({ PROVIDER_LIVENESS_MS: '60000' });
  api = createApi({ db, blobs: {} as ApiDeps['blobs'], temporal: {} as ApiDeps['temporal'], config, events: new EventBus() });
});

afterAll(async () => {
  await database?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('one paging style', () => {
  it('pages through jobs newest first, each once, rows of one millisecond included; another requestor’s never', async () => {
    const all = await pageAll('query($first: Int, $after: String) { jobs(first: $first, after: $after) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }', (d) => d.jobs);
    expect(all.map((j) => j.id)).toEqual(['job-4', 'job-3', 'job-2', 'job-1', 'job-0']);
  });

  it('pages through a job’s subtasks (by index, filtered by status) and events (by seq)', async () => {
    const q = 'query($first: Int, $after: String, $s: [SubtaskStatus!]) { job(id: "job-0") { subtasks(first: $first, after: $after, filter: { status: $s }) { edges { cursor node { index status } } nodes { index status } pageInfo { hasNextPage endCursor } } } }';
    expect((await pageAll(q, (d) => d.job.subtasks)).map((s) => s.index)).toEqual([0, 1, 2, 3, 4]);
    expect((await pageAll(q, (d) => d.job.subtasks, { s: ['SUCCEEDED'] })).map((s) => s.index)).toEqual([1, 3]);
    const events = await pageAll('query($first: Int, $after: String) { job(id: "job-0") { events(first: $first, after: $after) { edges { cursor node { seq type } } nodes { seq type } pageInfo { hasNextPage endCursor } } } }', (d) => d.job.events, {}, 3);
    expect(events).toHaveLength(7);
    expect(events[0].type).toBe('JOB_STARTED');
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
  });

  it('pages through providers, offers, agreements and invoices; filters default to off', async () => {
    const providersAll = await pageAll('query($first: Int, $after: String) { providers(first: $first, after: $after) { edges { cursor node { id online } } nodes { id online } pageInfo { hasNextPage endCursor } } }', (d) => d.providers);
    expect(providersAll.map((p) => p.id)).toEqual(['p-a', 'p-b', 'p-c']);
    const online = await pageAll('query($first: Int, $after: String) { providers(first: $first, after: $after, filter: { onlineOnly: true }) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }', (d) => d.providers);
    expect(online.map((p) => p.id)).toEqual(['p-a', 'p-c']);
    const offers = await pageAll('query($first: Int, $after: String) { offers(first: $first, after: $after) { edges { cursor node { providerId online pricing { start cpuSecond } } } nodes { providerId online pricing { start cpuSecond } } pageInfo { hasNextPage endCursor } } }', (d) => d.offers);
    expect(offers.map((o) => [o.providerId, o.online])).toEqual([['p-a', true], ['p-b', false], ['p-c', true]]);
    // Money is GLM: decimal strings, never floats.
    expect(offers[0].pricing).toEqual({ start: '0.001', cpuSecond: '0.00002' });
    const ags = await pageAll('query($first: Int, $after: String) { agreements(first: $first, after: $after) { edges { cursor node { id endedBy } } nodes { id endedBy } pageInfo { hasNextPage endCursor } } }', (d) => d.agreements);
    expect(ags.map((a) => a.id)).toEqual(['ag-4', 'ag-3', 'ag-2', 'ag-1', 'ag-0']);
    expect(ags[0].endedBy).toBe('SWEEPER');
    const q = 'query($first: Int, $after: String, $s: [InvoiceStatus!]) { invoices(first: $first, after: $after, filter: { status: $s }) { edges { cursor node { subtaskIndex status amount } } nodes { subtaskIndex status amount } pageInfo { hasNextPage endCursor } } }';
    expect(await pageAll(q, (d) => d.invoices)).toEqual([
      { subtaskIndex: 0, status: 'PAID', amount: '0.0015' },
      { subtaskIndex: 1, status: 'PAID', amount: '0.0015' },
      { subtaskIndex: 2, status: 'REJECTED', amount: '0.0015' },
    ]);
    expect((await pageAll(q, (d) => d.invoices, { s: ['PAID'] })).map((i) => i.subtaskIndex)).toEqual([0, 1]);
  });

  it('refuses a cursor of another list and a page size out of range, saying which', async () => {
    const { data } = await gql('{ job(id: "job-0") { subtasks(first: 1) { pageInfo { endCursor } } } }');
    const r = await gql('query($a: String) { jobs(after: $a) { nodes { id } } }', { a: data.job.subtasks.pageInfo.endCursor });
    expect(r.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^after: .* is not a cursor of this list/), extensions: { code: 'BAD_USER_INPUT' } });
    const big = await gql('{ providers(first: 501) { nodes { id } } }');
    expect(big.errors?.[0]).toMatchObject({ message: 'first: must be between 1 and 500, got 501', extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('one rule for unknown ids: a lookup is null, an action is NOT_FOUND', async () => {
    expect((await gql('{ job(id: "nope") { id } provider(id: "nope") { id } }')).data).toEqual({ job: null, provider: null });
    // Another requestor's job is, to alice, a job that does not exist.
    expect((await gql('{ job(id: "job-bob") { id } }')).data).toEqual({ job: null });
    for (const m of ['mutation { cancelJob(id: "job-bob") { id } }', 'mutation { raiseBudget(id: "nope", amount: "1") { id } }']) {
      const r = await gql(m);
      expect(r.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    }
    expect((await gql('{ invoices(filter: { jobId: "nope" }) { nodes { paymentId } } }')).data.invoices.nodes).toEqual([]);
  });

  it("answers the project's own heaviest reads within the API's limits (depth, tokens, cost)", async () => {
    for (const query of [JOB_QUERY, JOB_DETAILS]) {
      const r = await gql(query, { id: 'job-0' });
      expect(r.errors, query).toBeUndefined();
      expect(r.data.job.subtasks.nodes).toHaveLength(5);
    }
  });

  it('serves exactly the committed schema (api/schema.graphql)', async () => {
    const r = await gql(getIntrospectionQuery({ schemaDescription: true }), {}, null);
    expect(r.errors).toBeUndefined();
    const served = printSchema(buildClientSchema(r.data));
    const committed = printSchema(buildSchema(await readFile(new URL('../../api/schema.graphql', import.meta.url), 'utf8')));
    expect(served).toBe(committed);
  });

  it('refuses money that is not an amount of GLM', async () => {
    const r = await gql('mutation { raiseBudget(id: "job-0", amount: "1e3") { id } }');
    expect(r.errors?.[0].message).toMatch(/GLM: "1e3" is not an amount of GLM/);
  });
});
