/** Requestor identity: an API key names the requestor whose job a call submits; a bad key is refused. */
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
});
