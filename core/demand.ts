/** A job spec's demand in the market's terms. Pure. */
import type { JobSpec } from './jobSpec.js';
import type { Demand } from './market.js';
import { parseSize } from './units.js';

export function demandFromSpec(spec: JobSpec, requestorId: string): Demand {
  const d = spec.demand;
  return {
    requestorId,
    image: spec.image,
    runtime: d.runtime,
    minCpus: d.minCpus ?? spec.resources.cpus,
    minMemoryBytes: parseSize(d.minMemory ?? spec.resources.memory) ?? 0,
    minDiskBytes: parseSize(d.minDisk ?? spec.resources.disk ?? '0') ?? 0,
    gpu: { count: spec.resources.gpu, model: d.gpuModel },
    maxPrice: d.maxPrice,
    minReputation: d.minReputation,
    allowedProviders: d.allowedProviders ?? null,
    blockedProviders: d.blockedProviders,
    preference: d.preference,
    maxDurationSeconds: spec.resources.timeoutSeconds,
    estimateSeconds: d.estimateSeconds,
    paid: !!spec.budget,
  };
}
