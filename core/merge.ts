/** Merging subtask results into the job's result. Pure: the caller brings the bytes. */
import { GolemflowError, FailureType } from './failures.js';
import type { MergeKind } from './jobSpec.js';

/** Merged result: a short value that fits a GraphQL field and, for bulky results, a blob's bytes to store. */
export interface MergedResult {
  value: string | null;
  bytes: Buffer | null;
}

/**
 * Adds the numbers subtasks print, one output at a time (as BigInt while they are all integers,
 * so large counts stay exact): a merge holds one output in memory, never all of them.
 */
export class OutputSum {
  private ints = 0n;
  private floats = 0;
  private allIntegers = true;

  add(index: number, output: string): void {
    const t = output.trim();
    if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) throw new GolemflowError(FailureType.MergeFailed, `subtask ${index} printed ${JSON.stringify(t.slice(0, 80))}, not a number to sum`);
    if (/^-?\d+$/.test(t)) this.ints += BigInt(t);
    else this.allIntegers = false;
    this.floats += Number(t);
  }

  value(): string {
    return this.allIntegers ? this.ints.toString() : String(this.floats);
  }
}

/** A concatenation short enough to show as the job's value (longer ones are only a blob). */
export const CONCAT_VALUE_BYTES = 4096;

/**
 * Merges the stdout of each subtask, in subtask order. `sum` adds the numbers they print;
 * `concat` joins the outputs. (The requestor streams the same merges blob by blob.)
 */
export function mergeOutputs(kind: MergeKind, outputs: Buffer[]): MergedResult {
  if (kind === 'none' || kind === 'video' || kind === 'archive') return { value: null, bytes: null };
  if (kind === 'concat') {
    const bytes = Buffer.concat(outputs);
    return { value: bytes.length <= CONCAT_VALUE_BYTES ? bytes.toString('utf8') : null, bytes };
  }
  const sum = new OutputSum();
  outputs.forEach((b, i) => sum.add(i, b.toString('utf8')));
  return { value: sum.value(), bytes: null };
}

/** A file a subtask wrote under /out, stored as a blob. */
export interface SubtaskOutputFile {
  path: string;
  ref: string;
  size: number;
}

export interface ArchivePlan {
  entries: SubtaskOutputFile[];
  /** Set when two subtasks wrote the same path: every entry then sits under its subtask's folder. */
  clash: { path: string; subtasks: [number, number] } | null;
}

/**
 * The entries of an archive merge, in subtask order and by path within one. Entries keep the
 * paths the subtasks wrote (a batch's `/out/{stem}.png` stays `photo.png`); where two subtasks
 * wrote the same path, every entry goes under a folder named by its subtask (`000003/photo.png`)
 * rather than one file hiding another.
 */
export function planArchive(subtasks: Array<{ index: number; outputs: SubtaskOutputFile[] }>): ArchivePlan {
  const ordered = [...subtasks].sort((a, b) => a.index - b.index).map((s) => ({ index: s.index, outputs: [...s.outputs].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) }));
  const owner = new Map<string, number>();
  let clash: ArchivePlan['clash'] = null;
  for (const s of ordered) {
    for (const o of s.outputs) {
      const first = owner.get(o.path);
      if (first !== undefined && !clash) clash = { path: o.path, subtasks: [first, s.index] };
      owner.set(o.path, s.index);
    }
  }
  const entries = ordered.flatMap((s) => s.outputs.map((o) => (clash ? { ...o, path: `${String(s.index).padStart(6, '0')}/${o.path}` } : o)));
  return { entries, clash };
}
