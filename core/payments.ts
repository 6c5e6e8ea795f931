/**
 * Money, pure: what a result costs under its agreed pricing (in wei of an 18-decimal token),
 * the ids that make payments unique, the networks and tokens known, and the budget quote.
 * No I/O; the chain is reached by adapters/chain.ts.
 */
import { formatUnits, keccak256, parseUnits, stringToHex, type Hex } from 'viem';
import type { Pricing } from './market.js';
import { glmAmountProblem } from './glm.js';

export const GLM_DECIMALS = 18;

/** Networks Golemflow pays on, and GLM's address on each (local: deployed by the project). */
export const NETWORKS = {
  local: { chainId: 31337, glm: null },
  ethereum: { chainId: 1, glm: '0x7DD9c5Cba05E151C895FDe1CF355C9A1D5DA6429' },
  polygon: { chainId: 137, glm: '0x0B220b82F3eA3B7F6d9A1D8ab58930C064A2b5Bf' },
  holesky: { chainId: 17000, glm: '0x8888888815bf4DB87e57B609A50f938311EEd068' },
} as const;
export type NetworkName = keyof typeof NETWORKS;
export const KNOWN_TOKENS = ['GLM'] as const;

/** GLM as a decimal string (up to 18 places) to wei; throws with the reason on anything else. */
export function glmToWei(amount: string): bigint {
  const problem = glmAmountProblem(amount, { positive: false });
  if (problem) throw new Error(problem);
  return parseUnits(amount, GLM_DECIMALS);
}

export function weiToGlm(wei: bigint): string {
  return formatUnits(wei, GLM_DECIMALS);
}

/**
 * A float GLM price to wei, to the pico-GLM: a float has about 16 significant digits, so 0.05 at
 * 18 places would read 0.050000000000000003.
 */
function priceWei(glm: number): bigint {
  return parseUnits(glm.toFixed(12), GLM_DECIMALS);
}

/** A float GLM price as the API gives money: a decimal string, to the pico-GLM as invoices count it. */
export function priceText(glm: number): string {
  return weiToGlm(priceWei(glm));
}

/**
 * The cost of one run under linear pricing: start + CPU-seconds × price + wall-seconds × price,
 * seconds taken to the microsecond so the same measurements always give the same wei.
 */
export function costWei(pricing: Pricing, cpuSeconds: number, wallSeconds: number): bigint {
  const micro = (s: number) => BigInt(Math.round(Math.max(0, s) * 1e6));
  return priceWei(pricing.start) + (micro(cpuSeconds) * priceWei(pricing.cpuSecond)) / 1_000_000n + (micro(wallSeconds) * priceWei(pricing.envSecond)) / 1_000_000n;
}

/** The escrow's id of a job's allocation. */
export function allocationIdOf(jobId: string): Hex {
  return keccak256(stringToHex(`golemflow/allocation/${jobId}`));
}

/** A payment's id: one per job, subtask and provider; the escrow refuses a second release under it. */
export function paymentIdOf(jobId: string, index: number, providerId: string): Hex {
  return keccak256(stringToHex(`golemflow/payment/${jobId}/${index}/${providerId}`));
}

/**
 * What a job is expected to cost before it runs: every subtask on `redundancy` providers for the
 * estimated time, at the price of the offer it would likely get (the `price` given, in GLM per run).
 */
export function quoteWei(subtasks: number, redundancy: number, perRunGlm: number): bigint {
  return BigInt(subtasks * redundancy) * priceWei(perRunGlm);
}
