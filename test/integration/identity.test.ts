/**
 * Requestor identity: an API key names the requestor whose job a call submits; a bad key is
 * refused; a call without one reads only the market; a job, its events, invoices and blobs
 * belong to their owner, and to anyone else they do not exist.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiKey } from '../../api/auth.js';
import { refOf } from '../../blobs/ref.js';
import { startMarket, waitForJob, type TestMarket } from '../support/harness.js';

const SUBMIT = 'mutation($spec: JSON!) { submitJob(spec: $spec) { job { id requestorId } } }';
const spec = { image: 'golemflow/compute:1', command: ['echo', 'hi'], split: { kind: 'range', start: 0, end: 1, step: 1 }, redundancy: 1 };

describe('requestor identity', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket(['id-one'], { requestorId: 'the-node' });
  });
  afterAll(async () => {
    await market?.close();
  });

  it('a job submitted with an API key belongs to its requestor; the node\'s own key is the node\'s requestor; no key submits nothing', async () => {
    const alice = await issueApiKey(market.node.database.db, 'alice');
    expect(alice).toMatch(/^gf_[0-9a-f]{16}\.[0-9a-f]{64}$/);
    const mine = await market.gql<any>(SUBMIT, { spec }, { apiKey: alice });
    expect(mine.submitJob.job.requestorId).toBe('alice');
    const node = await market.gql<any>(SUBMIT, { spec });
    expect(node.submitJob.job.requestorId).toBe('the-node');
    // The node wrote that key for the CLI and the demo on this machine, readable by its owner only.
    const file = path.join(market.node.config.dataDir, 'requestor.key');
    expect((await fs.readFile(file, 'utf8')).trim()).toBe(market.apiKey);
    expect((await fs.stat(file)).mode & 0o077).toBe(0);
    const before = (await market.gql('{ jobs(first: 100) { nodes { id } } }')).jobs.nodes.length;
    const e = await market.gql(SUBMIT, { spec }, { apiKey: null }).catch((x) => x);
    expect(e.errors?.[0]).toMatchObject({ message: expect.stringContaining('this needs a requestor API key'), extensions: { code: 'UNAUTHENTICATED' } });
    expect((await market.gql('{ jobs(first: 100) { nodes { id } } }')).jobs.nodes.length).toBe(before);
    // The market itself stays public: offers and providers need no key.
    expect((await market.gql<any>('{ providers { nodes { id } } }', {}, { apiKey: null })).providers.nodes.length).toBeGreaterThan(0);
  });

  it('refuses a malformed, unknown or wrong key with UNAUTHENTICATED, and submits nothing', async () => {
    const key = await issueApiKey(market.node.database.db, 'bob');
    const wrong = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
    for (const [apiKey, message] of [
      ['nonsense', 'Authorization: expected "Bearer gf_<id>.<secret>" (a Golemflow API key)'],
      [`gf_0123456789abcdef.${'0'.repeat(64)}`, 'API key gf_0123456789abcdef is not valid (unknown, revoked, or a wrong secret)'],
      [wrong, `API key ${key.slice(0, 19)} is not valid (unknown, revoked, or a wrong secret)`],
    ]) {
      const before = (await market.gql('{ jobs(first: 100) { nodes { id } } }')).jobs.nodes.length;
      const e = await market.gql(SUBMIT, { spec }, { apiKey }).catch((x) => x);
      expect(e.errors?.[0]).toMatchObject({ message, extensions: { code: 'UNAUTHENTICATED' } });
      expect((await market.gql('{ jobs(first: 100) { nodes { id } } }')).jobs.nodes.length).toBe(before);
    }
  });

  it('only the owner reads, lists, follows, cancels or raises the budget of a job', async () => {
    const db = market.node.database.db;
    const alice = await issueApiKey(db, 'alice');
    const bob = await issueApiKey(db, 'bob');
    const paid = { ...spec, command: ['sleep', '30'], budget: { amount: '1' }, demand: { estimateSeconds: 1 } };
    const id = (await market.gql<any>(SUBMIT, { spec: paid }, { apiKey: alice })).submitJob.job.id;
    const read = 'query($id: ID!) { job(id: $id) { id } }';
    expect((await market.gql<any>(read, { id }, { apiKey: alice })).job.id).toBe(id);
    // Without a key, nothing of any job: each call is refused, saying how to get a key.
    for (const query of [read, '{ jobs(first: 5) { nodes { id } } }', 'query($id: ID!) { invoices(filter: { jobId: $id }) { nodes { paymentId } } }', 'mutation($id: ID!) { cancelJob(id: $id) { id } }', '{ requestorBalance { glm } }']) {
      const e = await market.gql(query, { id }, { apiKey: null }).catch((x) => x);
      expect(e.errors?.[0]?.extensions?.code, query).toBe('UNAUTHENTICATED');
    }
    for (const apiKey of [bob]) {
      expect((await market.gql<any>(read, { id }, { apiKey })).job).toBeNull();
      const list = await market.gql<any>('{ jobs(first: 100) { nodes { id } } }', {}, { apiKey });
      expect(list.jobs.nodes.map((j: any) => j.id)).not.toContain(id);
      expect((await market.gql<any>('query($id: ID!) { invoices(filter: { jobId: $id }) { nodes { paymentId } } }', { id }, { apiKey })).invoices.nodes).toEqual([]);
      for (const [mutation, vars] of [
        ['mutation($id: ID!) { cancelJob(id: $id) { id } }', { id }],
        ['mutation($id: ID!) { raiseBudget(id: $id, amount: "1") { id } }', { id }],
      ] as const) {
        const e = await market.gql(mutation, vars, { apiKey }).catch((x) => x);
        expect(e.errors?.[0]).toMatchObject({ message: `job ${id} does not exist`, extensions: { code: 'NOT_FOUND' } });
      }
      const events = await fetch(`${market.apiUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify({ query: 'subscription($id: ID!) { jobEvents(id: $id) { seq } }', variables: { id } }),
      });
      expect(await events.text()).toContain(`job ${id} does not exist`);
    }
    const cancelled = await market.gql<any>('mutation($id: ID!) { cancelJob(id: $id, reason: "mine") { id } }', { id }, { apiKey: alice });
    expect(cancelled.cancelJob.id).toBe(id);
  });

  it('blobs belong to who sent them and to the owner of the job that made them: a hash alone opens nothing', async () => {
    const db = market.node.database.db;
    const alice = await issueApiKey(db, 'alice');
    const bob = await issueApiKey(db, 'bob');
    const as = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
    const secret = `alice's secret ${Date.now()}\n`;
    const ref = refOf(Buffer.from(secret));
    const url = `${market.apiUrl}/blobs/sha256/${ref.slice(7)}`;
    expect((await fetch(url, { method: 'PUT', body: secret, headers: as(alice) })).status).toBe(201);
    expect(await (await fetch(url, { headers: as(alice) })).text()).toBe(secret);
    // Bob knows the hash: to him the blob does not exist, and a spec of his cannot name it.
    const bobs = await fetch(url, { headers: as(bob) });
    expect(bobs.status).toBe(404);
    expect((await fetch(url, { method: 'HEAD', headers: as(bob) })).status).toBe(404);
    const named = await market.gql(SUBMIT, { spec: { ...spec, command: ['cat', '/in/s.txt'], inputs: [{ name: 's.txt', ref }] } }, { apiKey: bob }).catch((x) => x);
    expect(named.errors?.[0]?.extensions?.problems).toEqual([{ path: '/inputs/0/ref', message: `no blob ${ref} has been uploaded by requestor bob (PUT it to /blobs/sha256/<hex> with your API key first)` }]);
    // Naming the hash in a PUT without the bytes gets him nothing either: the bytes are hashed.
    expect((await fetch(url, { method: 'PUT', body: 'not the secret', headers: as(bob) })).status).toBe(422);
    expect((await fetch(url, { headers: as(bob) })).status).toBe(404);
    // Anonymous and forged callers are turned away before anything is read.
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect((await anonymous.json()).error).toContain('blobs need a caller');
    const forged = await fetch(url, { headers: { authorization: `Agreement agr-none 0x${'1b'.repeat(65)}` } });
    expect(forged.status).toBe(403);

    // Alice's job reads her blob on a provider (by its agreement); its result is hers, not Bob's.
    const job = await market.gql<any>(SUBMIT, { spec: { ...spec, command: ['cat', '/in/s.txt'], inputs: [{ name: 's.txt', ref }], merge: { kind: 'concat' } } }, { apiKey: alice });
    const done = await waitForJob({ ...market, gql: (q, v) => market.gql(q, v, { apiKey: alice }) }, job.submitJob.job.id);
    expect(done.status).toBe('SUCCEEDED');
    const out = done.subtasks[0].resultRef.slice(7);
    expect(await (await fetch(`${market.apiUrl}/blobs/sha256/${out}`, { headers: as(alice) })).text()).toBe(secret);
    expect((await fetch(`${market.apiUrl}/blobs/sha256/${out}`, { headers: as(bob) })).status).toBe(404);
  });
});
