/**
 * Reading a job file for the CLI: YAML or JSON, where an input may name a local `file` instead
 * of a blob `ref` (the CLI uploads it). Problems name the file, the field and its line; nothing
 * is uploaded or submitted while there is one.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type YAMLMap } from 'yaml';
import { refOfFile } from '../blobs/client.js';
import { InvalidJobSpecError, type SpecProblem } from '../core/failures.js';
import { parseJobSpec, type JobSpec } from '../core/jobSpec.js';

export interface LoadedJobFile {
  spec: JobSpec;
  /** Local files to upload before submitting: ref → path. */
  uploads: Map<string, string>;
}

/** Loads and checks a job file; throws InvalidJobSpecError whose problems name `file:line`. */
export async function loadJobFile(file: string): Promise<LoadedJobFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new InvalidJobSpecError([{ path: file, message: `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const uploads = new Map<string, string>();
  const problems: SpecProblem[] = [];
  // Inputs given as local files become blob references (the files are uploaded on submit).
  const lists: Array<[string, unknown]> = [
    ['/inputs', doc.getIn(['inputs'], true)],
    ['/split/inputs', doc.getIn(['split', 'inputs'], true)],
  ];
  for (const [where, seq] of lists) {
    if (!isSeq(seq)) continue;
    for (const [i, item] of seq.items.entries()) {
      if (!isMap(item)) continue;
      const map = item as YAMLMap;
      const local = map.get('file');
      if (typeof local !== 'string') continue;
      const abs = path.resolve(path.dirname(file), local);
      const node = map.get('file', true) as { range?: [number, number, number] } | undefined;
      const line = node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
      try {
        const ref = await refOfFile(abs);
        uploads.set(ref, abs);
        map.delete('file');
        map.set('ref', ref);
        if (!map.has('name')) map.set('name', path.basename(local));
      } catch (e) {
        problems.push({ path: `${where}/${i}/file (${file}${line ? `:${line}` : ''})`, message: `cannot read ${JSON.stringify(local)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      }
    }
  }
  if (problems.length) throw new InvalidJobSpecError(problems);
  // Replacing `file` with `ref` keeps every other line where it was, so line numbers still match.
  const spec = parseJobSpec(doc.errors.length ? text : doc.toString(), file);
  return { spec, uploads };
}
