/**
 * User-facing API errors: a GraphQLError whose `extensions.code` comes from the failure's one
 * name (core/failures.ts FailureType), mapped here and nowhere else. A GolemflowError thrown by
 * any resolver reaches the caller with its code; anything else is masked by yoga.
 */
// createGraphQLError builds the error with yoga's own graphql instance, so yoga never masks it
// (a second copy of graphql, as a test runner may load, would fail its instanceof check).
import { createGraphQLError, maskError, type YogaServerOptions } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import { screamingCase } from '../core/events.js';
import { FailureType, GolemflowError, InvalidJobSpecError, type SpecProblem } from '../core/failures.js';

/** The API's code for a failure: its name in SCREAMING_SNAKE_CASE; BadInput is GraphQL's own BAD_USER_INPUT. */
export function apiCodeOf(type: FailureType): string {
  if (type === FailureType.BadInput) return 'BAD_USER_INPUT';
  return screamingCase(type);
}

export function userError(type: FailureType, message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return createGraphQLError(message, { extensions: { code: apiCodeOf(type), ...extra } });
}

export function invalidSpec(problems: SpecProblem[]): GraphQLError {
  return userError(FailureType.InvalidJobSpec, `invalid job spec: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { problems });
}

/** yoga's error masking, except for the project's own errors: those keep their message and get their code. */
export const maskErrors: NonNullable<Exclude<YogaServerOptions<object, object>['maskedErrors'], boolean>>['maskError'] = (error, message, isDev) => {
  const original = (error as { originalError?: unknown })?.originalError ?? error;
  if (original instanceof InvalidJobSpecError) return invalidSpec(original.problems);
  if (original instanceof GolemflowError) return userError(original.code, original.message);
  return maskError(error, message, isDev);
};
