/**
 * Requestor identity: an API key names the requestor whose job a call submits; a bad key is
 * refused; a job, its events and invoices belong to their owner, and to anyone else the job does
 * not exist.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiKey } from '../../api/auth.js';
import { gql } from '../../infra/graphqlClient.js';
import { startMarket, type TestMarket } from '../support/harness.js';

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

  it('a job submitted with an API key belongs to its requestor; without one, to the node', async () => {
    const alice = await issueApiKey(market.node.database.db, 'alice');
    expect(alice).toMatch(/^gf_[0-9a-f]{16}\.[0-9a-f]{64}$/);
    const mine = await gql<any>(market.apiUrl, SUBMIT, { spec }, { apiKey: alice });
    expect(mine.submitJob.job.requestorId).toBe('alice');
    const anonymous = await gql<any>(market.apiUrl, SUBMIT, { spec });
    expect(anonymous.submitJob.job.requestorId).toBe('the-node');
  });

  it('refuses a malformed, unknown or wrong key with UNAUTHENTICATED, and submits nothing', async () => {
    const key = await issueApiKey(market.node.database.db, 'bob');
    const wrong = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
    for (const [apiKey, message] of [
      ['nonsense', 'Authorization: expected "Bearer gf_<id>.<secret>" (a Golemflow API key)'],
      [`gf_0123456789abcdef.${'0'.repeat(64)}`, 'API key gf_0123456789abcdef is not valid (unknown, revoked, or a wrong secret)'],
      [wrong, `API key ${key.slice(0, 19)} is not valid (unknown, revoked, or a wrong secret)`],
    ]) {
      const before = (await market.gql('{ jobs(first: 100) { edges { node { id } } } }')).jobs.edges.length;
      const e = await gql(market.apiUrl, SUBMIT, { spec }, { apiKey }).catch((x) => x);
      expect(e.errors?.[0]).toMatchObject({ message, extensions: { code: 'UNAUTHENTICATED' } });
      expect((await market.gql('{ jobs(first: 100) { edges { node { id } } } }')).jobs.edges.length).toBe(before);
    }
  });

  it('only the owner reads, lists, follows, cancels or raises the budget of a job', async () => {
    const db = market.node.database.db;
    const alice = await issueApiKey(db, 'alice');
    const bob = await issueApiKey(db, 'bob');
    const paid = { ...spec, command: ['sleep', '30'], budget: { amount: '1' }, demand: { estimateSeconds: 1 } };
    const id = (await gql<any>(market.apiUrl, SUBMIT, { spec: paid }, { apiKey: alice })).submitJob.job.id;
    const read = 'query($id: ID!) { job(id: $id) { id } }';
    expect((await gql<any>(market.apiUrl, read, { id }, { apiKey: alice })).job.id).toBe(id);
    for (const apiKey of [bob, undefined]) {
      expect((await gql<any>(market.apiUrl, read, { id }, { apiKey })).job).toBeNull();
      const list = await gql<any>(market.apiUrl, '{ jobs(first: 100) { edges { node { id } } } }', {}, { apiKey });
      expect(list.jobs.edges.map((e: any) => e.node.id)).not.toContain(id);
      expect((await gql<any>(market.apiUrl, 'query($id: ID!) { invoices(job: $id) { paymentId } }', { id }, { apiKey })).invoices).toEqual([]);
      for (const [mutation, vars] of [
        ['mutation($id: ID!) { cancelJob(id: $id) { id } }', { id }],
        ['mutation($id: ID!) { raiseBudget(job: $id, amount: "1") { id } }', { id }],
      ] as const) {
        const e = await gql(market.apiUrl, mutation, vars, { apiKey }).catch((x) => x);
        expect(e.errors?.[0]).toMatchObject({ message: `job ${id} does not exist`, extensions: { code: 'NOT_FOUND' } });
      }
      const events = await fetch(`${market.apiUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify({ query: 'subscription($id: ID!) { jobEvents(id: $id) { seq } }', variables: { id } }),
      });
      expect(await events.text()).toContain(`job ${id} does not exist`);
    }
    const cancelled = await gql<any>(market.apiUrl, 'mutation($id: ID!) { cancelJob(id: $id, reason: "mine") { id } }', { id }, { apiKey: alice });
    expect(cancelled.cancelJob.id).toBe(id);
  });
});
