/**
 * A provider that misbehaves on purpose, for tests and trials only: it returns wrong output
 * (always, or with a probability), hangs (stops heartbeating and never answers), or exits
 * half-way. Turned on only by the provider's `--test-misbehave` flag, which logs loudly.
 */
import { seededRandom } from '../core/random.js';

export type MisbehaviourMode = 'wrong-output' | 'hang' | 'exit-midway';

export interface Misbehaviour {
  mode: MisbehaviourMode;
  /** Share of subtasks it misbehaves on (default 1). */
  probability: number;
  seed: number;
}

/** Parses `wrong-output`, `wrong-output:0.3`, `hang`, `exit-midway`. */
export function parseMisbehaviour(text: string, seed = 1): Misbehaviour {
  const [mode, p] = text.split(':');
  if (!['wrong-output', 'hang', 'exit-midway'].includes(mode)) throw new Error(`--test-misbehave: ${JSON.stringify(mode)} is not one of wrong-output[:probability], hang, exit-midway`);
  const probability = p === undefined ? 1 : Number(p);
  if (!(probability > 0 && probability <= 1)) throw new Error(`--test-misbehave: probability ${JSON.stringify(p)} must be above 0 and at most 1`);
  return { mode: mode as MisbehaviourMode, probability, seed };
}

/** Decides, subtask by subtask, whether to misbehave (seeded, so a trial can be replayed). */
export function misbehaviourDecider(m: Misbehaviour): () => boolean {
  const rand = seededRandom(m.seed);
  return () => rand() < m.probability;
}

/** A plausible wrong answer: a number off by one, anything else with a byte changed. */
export function corrupt(output: Buffer): Buffer {
  const text = output.toString('utf8');
  const trimmed = text.trim();
  if (/^-?\d+$/.test(trimmed)) return Buffer.from(`${BigInt(trimmed) + 1n}\n`);
  if (!output.length) return Buffer.from('0\n');
  const copy = Buffer.from(output);
  copy[0] ^= 1;
  return copy;
}
