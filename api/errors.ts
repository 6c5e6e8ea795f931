/** User-facing API errors: a GraphQLError with a code in `extensions`; anything else is masked by yoga. */
// createGraphQLError builds the error with yoga's own graphql instance, so yoga never masks it
// (a second copy of graphql, as a test runner may load, would fail its instanceof check).
import { createGraphQLError } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import type { SpecProblem } from '../core/failures.js';

export const ErrorCode = {
  InvalidJobSpec: 'INVALID_JOB_SPEC',
  BadInput: 'BAD_USER_INPUT',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  Unavailable: 'UNAVAILABLE',
  NoMatchingOffer: 'NO_MATCHING_OFFER',
  BudgetTooLow: 'BUDGET_TOO_LOW',
  InsufficientFunds: 'INSUFFICIENT_FUNDS',
  QuotaExceeded: 'QUOTA_EXCEEDED',
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
} as const;

export function userError(code: (typeof ErrorCode)[keyof typeof ErrorCode], message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return createGraphQLError(message, { extensions: { code, ...extra } });
}

export function invalidSpec(problems: SpecProblem[]): GraphQLError {
  return userError(ErrorCode.InvalidJobSpec, `invalid job spec: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { problems });
}
