/**
 * Provider presets, as Golem's provider has: named sets of prices and limits. Built-in ones
 * below; a provider's config file can add or override them. Pure.
 */
import type { Pricing } from './market.js';

export interface Preset {
  pricing: Pricing;
  /** The lowest prices accepted in a proposal; default: the preset's own prices. */
  minPricing?: Pricing;
  maxSubtaskSeconds: number;
  maxConcurrentAgreements?: number;
}

export const BUILTIN_PRESETS: Record<string, Preset> = {
  default: { pricing: { start: 0, cpuSecond: 0.0001, envSecond: 0.00005 }, maxSubtaskSeconds: 3600 },
  budget: { pricing: { start: 0, cpuSecond: 0.00004, envSecond: 0.00002 }, maxSubtaskSeconds: 900 },
  premium: { pricing: { start: 0.01, cpuSecond: 0.0003, envSecond: 0.0001 }, maxSubtaskSeconds: 86_400 },
};

/** The provider's config file: presets, and the policy fields the command line can also set. */
export interface ProviderConfigFile {
  preset?: string;
  presets?: Record<string, Preset>;
  allowedRequestors?: string[];
  blockedRequestors?: string[];
  allowedImages?: string[];
}

/** The preset by name, from the config file first, then the built-ins; an unknown name is an error listing the known ones. */
export function resolvePreset(name: string, file: ProviderConfigFile = {}): Preset {
  const all = { ...BUILTIN_PRESETS, ...file.presets };
  const preset = all[name];
  if (!preset) throw new Error(`unknown preset ${JSON.stringify(name)}; known presets: ${Object.keys(all).join(', ')}`);
  return preset;
}
