/**
 * The API's scalars: JSON and DateTime from graphql-scalars, and GLM, the one way the API gives
 * money (a decimal string, exact to the wei).
 */
import { GraphQLError, GraphQLScalarType, Kind, type GraphQLSchema } from 'graphql';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import { glmAmountProblem } from '../core/glm.js';
import { priceText } from '../core/payments.js';

/** An amount from a caller: a decimal string, or a JSON number (kept as given: an offer's signature covers it). */
function parseGlm(value: unknown): string | number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const problem = glmAmountProblem(value, { positive: false });
  if (problem) throw new GraphQLError(`GLM: ${problem}`);
  return value as string;
}

export const GLMResolver = new GraphQLScalarType({
  name: 'GLM',
  serialize(value) {
    if (typeof value === 'number' && Number.isFinite(value)) return priceText(value);
    if (typeof value === 'bigint') throw new TypeError('GLM: a wei amount reached the API unconverted');
    if (typeof value === 'string' && !glmAmountProblem(value, { positive: false })) return value;
    throw new TypeError(`GLM: cannot give ${JSON.stringify(value)} as an amount of GLM`);
  },
  parseValue: parseGlm,
  parseLiteral(ast) {
    if (ast.kind === Kind.STRING) return parseGlm(ast.value);
    if (ast.kind === Kind.FLOAT || ast.kind === Kind.INT) return parseGlm(Number(ast.value));
    throw new GraphQLError(`GLM: expected a decimal string such as "0.5", got a ${ast.kind}`);
  },
});

/** Numbers from GLM inputs, for the parts of the market that price in floats (offers, demands). */
export function glmNumber(value: string | number): number {
  return typeof value === 'number' ? value : Number(value);
}

/**
 * The scalars' behaviour with the committed schema's words for them: a scalar's resolver replaces
 * the whole type, description included, and the API serves the schema as written.
 */
export function scalarResolvers(sdl: GraphQLSchema): Record<string, GraphQLScalarType> {
  const described = (s: GraphQLScalarType) => new GraphQLScalarType({ ...s.toConfig(), description: sdl.getType(s.name)?.description });
  return { JSON: described(JSONResolver), DateTime: described(DateTimeResolver), GLM: described(GLMResolver) };
}
