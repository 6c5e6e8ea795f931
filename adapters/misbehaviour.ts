/**
 * A provider that misbehaves on purpose, for tests and trials only: it returns wrong output
 * (always, or with a probability), hangs (stops heartbeating and never answers), exits
 * half-way, or claims far more CPU and wall time than its runs took (inflated-usage). Turned on only by the provider's `--test-misbehave` flag, which logs loudly.
 */
import { PNG } from 'pngjs';
import { seededRandom } from '../core/random.js';

/**
 * noisy-output is not dishonest: it stands for a provider whose renderer or FPU differs a
 * little (a few pixels off by a few levels), which exact comparison rejects and an image
 * tolerance accepts.
 */
export type MisbehaviourMode = 'wrong-output' | 'noisy-output' | 'hang' | 'exit-midway' | 'inflated-usage';
const MODES: MisbehaviourMode[] = ['wrong-output', 'noisy-output', 'hang', 'exit-midway', 'inflated-usage'];

export interface Misbehaviour {
  mode: MisbehaviourMode;
  /** Share of subtasks it misbehaves on (default 1). */
  probability: number;
  seed: number;
}

/** Parses `wrong-output`, `wrong-output:0.3`, `hang`, `exit-midway`. */
export function parseMisbehaviour(text: string, seed = 1): Misbehaviour {
  const [mode, p] = text.split(':');
  if (!(MODES as string[]).includes(mode)) throw new Error(`--test-misbehave: ${JSON.stringify(mode)} is not one of wrong-output[:probability], noisy-output[:probability], hang, exit-midway, inflated-usage`);
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

/**
 * Changes a PNG's pixels: `noise` moves about one pixel in 5,000 by at most 3 levels (within any
 * sane tolerance); `wrong` halves every pixel's brightness (a wrong render, visible in any crop).
 */
export function perturbPng(bytes: Buffer, how: 'noise' | 'wrong', seed: number): Buffer {
  const png = PNG.sync.read(bytes);
  const rand = seededRandom(seed);
  const pixels = png.width * png.height;
  if (how === 'noise') {
    const n = Math.max(1, Math.floor(pixels / 5000));
    for (let k = 0; k < n; k++) {
      const i = Math.floor(rand() * pixels) * 4;
      for (let c = 0; c < 3; c++) png.data[i + c] = Math.max(0, Math.min(255, png.data[i + c] + (rand() < 0.5 ? -3 : 3)));
    }
  } else {
    // A whole-frame error (wrong lighting, say): every pixel at half its brightness.
    for (let i = 0; i < png.data.length; i += 4) for (let c = 0; c < 3; c++) png.data[i + c] >>= 1;
  }
  return PNG.sync.write(png);
}
