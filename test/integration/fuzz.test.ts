/**
 * A bounded fuzz of submitJob (fast-check): specs near the real shape with hostile values (wrong
 * types, huge and tiny numbers, control characters, lone surrogates, unknown keys). Every answer
 * is either a job or an error a user can act on: never an internal error.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLRequestError } from '../../infra/graphqlClient.js';
import { startMarket, SUBMIT, type TestMarket } from '../support/harness.js';

const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', '\u0000', 'a\ud800', '{start}', '../../etc/passwd', 'golemflow/compute:1', 'x'.repeat(5000)),
);
const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 1e-10, 1e308, Number.MAX_SAFE_INTEGER, 0.5));
const anything: fc.Arbitrary<unknown> = fc.oneof(text, num, fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 3 }), fc.dictionary(text, text, { maxKeys: 3 }));

const spec = fc.record(
  {
    name: fc.oneof(text, anything),
    image: fc.oneof(fc.constant('golemflow/compute:1'), text),
    command: fc.oneof(fc.array(text, { maxLength: 4 }), anything),
    split: fc.oneof(
      fc.record({ kind: fc.constant('range'), start: num, end: num, step: num }),
      fc.record({ kind: fc.constantFrom('frames', 'inputs', 'bogus'), start: num, end: num }),
      anything,
    ),
    merge: fc.oneof(fc.record({ kind: fc.constantFrom('sum', 'concat', 'none', 'video', 'archive', 'x') }), anything),
    redundancy: fc.oneof(num, anything),
    resources: fc.oneof(fc.record({ cpus: num, memory: text, timeoutSeconds: num }, { requiredKeys: [] }), anything),
    demand: fc.oneof(fc.record({ blockedProviders: fc.array(text), minCpus: num, preference: text }, { requiredKeys: [] }), anything),
    budget: fc.oneof(fc.record({ amount: fc.oneof(text, fc.constantFrom('1', '0', '-1', '1e9', '0.0000000000000000001')) }), anything),
    extra: anything,
  },
  { requiredKeys: [] },
);

describe('submitJob under fuzz', () => {
  let market: TestMarket;
  const accepted: string[] = [];
  beforeAll(async () => {
    market = await startMarket([]);
  });
  afterAll(async () => {
    // The few specs that were valid started jobs that would wait for offers: end them.
    for (const id of accepted) await market.node.client.workflow.getHandle(id).terminate('fuzz test over').catch(() => undefined);
    await market?.close();
  });

  it('answers 400 fuzzed specs with a job or an error a user can act on, never an internal error', async () => {
    const internal: string[] = [];
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        try {
          const r = await market.gql(SUBMIT, { spec: s });
          accepted.push(r.submitJob.job.id);
        } catch (e) {
          if (!(e instanceof GraphQLRequestError)) throw e;
          const codes = e.errors.map((x) => x.extensions?.code);
          if (codes.some((c) => !c || c === 'INTERNAL_SERVER_ERROR') || /Unexpected error/.test(e.message)) internal.push(`${e.message} for ${JSON.stringify(s).slice(0, 300)}`);
        }
      }),
      { numRuns: 400, seed: 20261126 },
    );
    expect(internal).toEqual([]);
  }, 300_000);
});
