/**
 * The API's rules, held against the committed schema (api/schema.graphql): lists that can grow
 * are connections with the same arguments; closed sets are enums, matching the code's own lists;
 * money is GLM; filters default to off.
 */
import { readFileSync } from 'node:fs';
import { buildSchema, getNamedType, isEnumType, isInputObjectType, isListType, isNonNullType, isObjectType, type GraphQLField, type GraphQLOutputType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { JOB_EVENT_TYPES, screamingCase } from '../../core/events.js';
import { FailureType } from '../../core/failures.js';

const schema = buildSchema(readFileSync(new URL('../../api/schema.graphql', import.meta.url), 'utf8'));
const objectTypes = Object.values(schema.getTypeMap()).filter((t) => isObjectType(t) && !t.name.startsWith('__')) as Array<import('graphql').GraphQLObjectType>;

/** Short lists bounded by what they describe (one subtask's attempts, one result's files, the health report's problems). */
const PLAIN_LISTS = new Set([
  'Subtask.attempts',
  'Subtask.agreements',
  'Subtask.outputs',
  'Attempt.comparisons',
  'Attempt.outputs',
  'JobResult.outputs',
  'MarketHealth.providers',
  'MarketHealth.staleAgreements',
  'MarketHealth.overdueSubtasks',
]);

const unwrap = (t: GraphQLOutputType): GraphQLOutputType => (isNonNullType(t) ? t.ofType : t);

describe('the API schema', () => {
  it('gives every list of objects that can grow as a connection, with first (default 100) and after', () => {
    const offenders: string[] = [];
    for (const type of objectTypes) {
      if (type.name.endsWith('Connection') || type.name.endsWith('Edge')) continue;
      for (const field of Object.values(type.getFields()) as GraphQLField<unknown, unknown>[]) {
        const name = `${type.name}.${field.name}`;
        const t = unwrap(field.type);
        if (isListType(t) && isObjectType(getNamedType(t)) && !PLAIN_LISTS.has(name)) offenders.push(`${name} is a plain list`);
        if (getNamedType(field.type).name.endsWith('Connection')) {
          const first = field.args.find((a) => a.name === 'first');
          const after = field.args.find((a) => a.name === 'after');
          if (first?.defaultValue !== 100 || String(after?.type) !== 'String') offenders.push(`${name} lacks first: Int = 100 / after: String`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('names every event type and failure type the code has, and no other', () => {
    const values = (name: string) => (schema.getType(name) as import('graphql').GraphQLEnumType).getValues().map((v) => v.name);
    expect(values('JobEventType')).toEqual(JOB_EVENT_TYPES.map(screamingCase));
    expect(values('FailureType').sort()).toEqual(Object.values(FailureType).map(screamingCase).sort());
  });

  it('gives money as GLM only, and every filter off by default', () => {
    const money = /^(amount|perRun|paid|owed|refused|locked|released|returned|glm|start|cpuSecond|envSecond|min|p25|p50|p75|max)$/;
    const moneyTypes = ['Quote', 'Earnings', 'Allocation', 'Invoice', 'RequestorBalance', 'Pricing', 'PriceQuantiles', 'PricingInput'];
    const wrong: string[] = [];
    for (const name of moneyTypes) {
      const type = schema.getType(name) as import('graphql').GraphQLObjectType;
      for (const f of Object.values(type.getFields())) {
        if (money.test(f.name) && getNamedType(f.type).name !== 'GLM') wrong.push(`${name}.${f.name}: ${String(f.type)}`);
        if (/wei/i.test(f.name)) wrong.push(`${name}.${f.name}: a second representation of money`);
      }
    }
    expect(wrong).toEqual([]);
    const filters = Object.values(schema.getTypeMap()).filter(isInputObjectType);
    const on = filters.flatMap((t) => Object.values(t.getFields()).filter((f) => getNamedType(f.type).name === 'Boolean' && f.defaultValue !== undefined && f.defaultValue !== false).map((f) => `${t.name}.${f.name}`));
    expect(on).toEqual([]);
  });

  it('gives every closed set as an enum: no status, state, kind or type is a free string', () => {
    const free = objectTypes.flatMap((t) =>
      Object.values(t.getFields())
        .filter((f) => /^(status|state|phase|kind|type|role|verdict|failureType|endedBy)$/.test(f.name) && !isEnumType(getNamedType(f.type)))
        .map((f) => `${t.name}.${f.name}`),
    );
    expect(free).toEqual([]);
  });
});
