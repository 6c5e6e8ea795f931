/** User-facing API errors: a GraphQLError with a code in `extensions`; anything else is masked by yoga. */
import { GraphQLError } from 'graphql';
import type { SpecProblem } from '../core/failures.js';

export const ErrorCode = {
  InvalidJobSpec: 'INVALID_JOB_SPEC',
  BadInput: 'BAD_USER_INPUT',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  Unavailable: 'UNAVAILABLE',
} as const;

export function userError(code: (typeof ErrorCode)[keyof typeof ErrorCode], message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extra } });
}

export function invalidSpec(problems: SpecProblem[]): GraphQLError {
  return userError(ErrorCode.InvalidJobSpec, `invalid job spec: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { problems });
}
