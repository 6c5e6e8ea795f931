/**
 * The rule for an amount of GLM as people write it, in one place: a decimal with at most 18
 * places (GLM's decimals), as text so no float rounds it. The job spec's schema, the budget
 * raise and the conversion to wei all use it. No imports: workflows use it too.
 */

/** A JSON Schema pattern (and RegExp source) for an amount of GLM. */
export const GLM_AMOUNT_PATTERN = '^\\d+(\\.\\d{1,18})?$';
const AMOUNT = new RegExp(GLM_AMOUNT_PATTERN);

/** What is wrong with `amount` as a positive amount of GLM, or null when nothing is. */
export function glmAmountProblem(amount: unknown, { positive = true } = {}): string | null {
  if (typeof amount !== 'string' || !AMOUNT.test(amount)) return `${JSON.stringify(amount)} is not an amount of GLM (a decimal such as 12.5, at most 18 places)`;
  if (positive && /^0+(\.0+)?$/.test(amount)) return 'must be a positive amount of GLM';
  return null;
}
