/** Merging subtask results into the job's result. Pure: the caller brings the bytes. */
import { GolemflowError, FailureType } from './failures.js';
import type { MergeKind } from './jobSpec.js';

/** Merged result: a short value that fits a GraphQL field and, for bulky results, a blob's bytes to store. */
export interface MergedResult {
  value: string | null;
  bytes: Buffer | null;
}

/**
 * Merges the stdout of each subtask, in subtask order. `sum` adds the numbers they print (as
 * BigInt when they are integers, so large counts stay exact); `concat` joins the outputs.
 */
export function mergeOutputs(kind: MergeKind, outputs: Buffer[]): MergedResult {
  if (kind === 'none' || kind === 'video') return { value: null, bytes: null };
  if (kind === 'concat') {
    const bytes = Buffer.concat(outputs);
    return { value: bytes.length <= 4096 ? bytes.toString('utf8') : null, bytes };
  }
  const texts = outputs.map((b) => b.toString('utf8').trim());
  texts.forEach((t, i) => {
    if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t))
      throw new GolemflowError(FailureType.MergeFailed, `subtask ${i} printed ${JSON.stringify(t.slice(0, 80))}, not a number to sum`);
  });
  if (texts.every((t) => /^-?\d+$/.test(t))) return { value: texts.reduce((a, t) => a + BigInt(t), 0n).toString(), bytes: null };
  return { value: String(texts.reduce((a, t) => a + Number(t), 0)), bytes: null };
}
