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
  if (kind === 'none' || kind === 'video' || kind === 'archive') return { value: null, bytes: null };
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
