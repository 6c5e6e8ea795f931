/**
 * Provider reputation from its history: a Beta-distribution score with exponential decay, where
 * a wrong result weighs far more than a failure. With no history the score is 0.5 (Beta(1, 1)).
 * Pure.
 */

/** What a provider's history holds, each count already weighted by its age's decay. */
export interface History {
  accepted: number;
  wrong: number;
  failures: number;
  timeouts: number;
}

export const REPUTATION_WEIGHTS = { accepted: 1, wrong: 10, failure: 1, timeout: 1 } as const;
/** An event half a week old counts half. */
export const REPUTATION_HALF_LIFE_SECONDS = 3.5 * 24 * 3600;
/** Below this a provider is out of the market, whatever the demand says. */
export const REPUTATION_FLOOR = 0.2;

/** The weight of an event `ageSeconds` old. */
export function decay(ageSeconds: number, halfLife = REPUTATION_HALF_LIFE_SECONDS): number {
  return Math.pow(0.5, Math.max(0, ageSeconds) / halfLife);
}

/** The mean of Beta(1 + good, 1 + bad): 0.5 with no history, towards 1 with agreeing results. */
export function reputationOf(h: History): number {
  const good = REPUTATION_WEIGHTS.accepted * h.accepted;
  const bad = REPUTATION_WEIGHTS.wrong * h.wrong + REPUTATION_WEIGHTS.failure * h.failures + REPUTATION_WEIGHTS.timeout * h.timeouts;
  return (1 + good) / (2 + good + bad);
}
