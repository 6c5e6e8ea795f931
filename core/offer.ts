/** Checking a provider's offer before it enters the market. Pure. */
import { FailureType, GolemflowError } from './failures.js';
import { isAddress } from 'viem';
import type { Offer } from './market.js';
import { formatSize, parseSize } from './units.js';

export const KNOWN_RUNTIMES = ['docker'] as const;
/** Prices above these are refused as absurd (GLM). */
export const PRICE_CEILING = { start: 100, cpuSecond: 1, envSecond: 1 } as const;
export const MAX_SUBTASK_SECONDS = 7 * 24 * 3600;

export interface OfferInput {
  name: string;
  cpus: number;
  memory: string;
  disk?: string | null;
  gpu?: { model: string; count: number } | null;
  runtimes?: string[] | null;
  images?: string[] | null;
  pricing: { start: number; cpuSecond: number; envSecond: number };
  limits?: { maxConcurrentAgreements?: number | null; maxSubtaskSeconds?: number | null } | null;
  benchmark?: { score: number; seconds: number } | null;
  preset?: string | null;
  /** Where GLM for its accepted results is paid (an EVM address); null: it cannot take paid jobs. */
  paymentAddress?: string | null;
  /** What the machine has, as the provider node measured it. */
  machine?: { cpus: number; memory: string } | null;
}

export class InvalidOfferError extends GolemflowError {
  constructor(readonly problems: string[]) {
    super(FailureType.InvalidOffer, `invalid offer: ${problems.join('; ')}`);
  }
}

/** Checks an offer and fills its defaults; throws InvalidOfferError naming every problem. */
export function validateOffer(input: OfferInput): Offer {
  const problems: string[] = [];
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(input.name)) problems.push(`name: ${JSON.stringify(input.name)} must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit`);
  if (!(input.cpus > 0 && input.cpus <= 1024)) problems.push(`cpus: must be above 0 and at most 1024, got ${input.cpus}`);
  const memoryBytes = parseSize(input.memory);
  if (memoryBytes === undefined) problems.push(`memory: ${JSON.stringify(input.memory)} is not a size such as 512m or 2g`);
  else if (memoryBytes < 64 * 1024 ** 2) problems.push(`memory: must be at least 64m, got ${input.memory}`);
  const diskBytes = input.disk ? parseSize(input.disk) : 10 * 1024 ** 3;
  if (diskBytes === undefined) problems.push(`disk: ${JSON.stringify(input.disk)} is not a size such as 10g`);
  if (input.machine) {
    const machineMemory = parseSize(input.machine.memory);
    if (input.cpus > input.machine.cpus) problems.push(`cpus: offers ${input.cpus}, but the machine has ${input.machine.cpus}`);
    if (memoryBytes !== undefined && machineMemory !== undefined && memoryBytes > machineMemory)
      problems.push(`memory: offers ${input.memory}, but the machine has ${formatSize(machineMemory)}`);
  }
  if (input.gpu && (!(input.gpu.count >= 1 && input.gpu.count <= 16) || !input.gpu.model.trim()))
    problems.push('gpu: needs a model name and a count from 1 to 16');
  const runtimes = input.runtimes?.length ? input.runtimes : ['docker'];
  for (const r of runtimes) if (!(KNOWN_RUNTIMES as readonly string[]).includes(r)) problems.push(`runtimes: ${JSON.stringify(r)} is not a known runtime (known: ${KNOWN_RUNTIMES.join(', ')})`);
  const images = input.images?.length ? input.images : ['*'];
  for (const k of ['start', 'cpuSecond', 'envSecond'] as const) {
    const v = input.pricing[k];
    if (!Number.isFinite(v) || v < 0) problems.push(`pricing.${k}: must be a price of 0 GLM or more, got ${v}`);
    else if (v > PRICE_CEILING[k]) problems.push(`pricing.${k}: ${v} GLM is above the ceiling of ${PRICE_CEILING[k]} GLM`);
  }
  const maxConcurrentAgreements = input.limits?.maxConcurrentAgreements ?? Math.max(1, Math.floor(input.cpus));
  if (!Number.isInteger(maxConcurrentAgreements) || maxConcurrentAgreements < 1 || maxConcurrentAgreements > 256)
    problems.push(`limits.maxConcurrentAgreements: must be a whole number from 1 to 256, got ${maxConcurrentAgreements}`);
  const maxSubtaskSeconds = input.limits?.maxSubtaskSeconds ?? 3600;
  if (!Number.isInteger(maxSubtaskSeconds) || maxSubtaskSeconds < 1 || maxSubtaskSeconds > MAX_SUBTASK_SECONDS)
    problems.push(`limits.maxSubtaskSeconds: must be a whole number of seconds from 1 to ${MAX_SUBTASK_SECONDS}, got ${maxSubtaskSeconds}`);
  if (input.benchmark && !(input.benchmark.score >= 0 && input.benchmark.seconds > 0)) problems.push('benchmark: score must be 0 or more and seconds above 0');
  if (input.paymentAddress != null && !isAddress(input.paymentAddress, { strict: false }))
    problems.push(`paymentAddress: ${JSON.stringify(input.paymentAddress)} is not an address (0x and 40 hex digits)`);
  if (problems.length) throw new InvalidOfferError(problems);
  return {
    providerId: input.name,
    cpus: input.cpus,
    memoryBytes: memoryBytes!,
    diskBytes: diskBytes!,
    gpu: input.gpu ?? null,
    runtimes,
    images,
    pricing: { ...input.pricing },
    limits: { maxConcurrentAgreements, maxSubtaskSeconds },
    benchmark: input.benchmark ?? null,
    preset: input.preset ?? null,
    paymentAddress: input.paymentAddress ?? null,
  };
}
