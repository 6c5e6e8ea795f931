/**
 * Reading a job file for the CLI: YAML or JSON, where local files stand in for blob refs (the
 * CLI uploads them):
 *   inputs / split.inputs:  `- file: scene.pov` (one file; `name` defaults to its base name)
 *                           `- files: "photos/*.jpg"` (every match of a glob, sorted, one entry each)
 *   imageArchive:           `{ file: tool.tar }` (a `docker save` archive of `image`)
 * Paths are relative to the job file. Problems name the file, the field and its line; nothing
 * is uploaded or submitted while there is one.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';
import { refOfFile, type BlobClient } from '../blobs/client.js';
import { imageArchiveProblem } from '../blobs/imageArchive.js';
import { InvalidJobSpecError, type SpecProblem } from '../core/failures.js';
import { parseSpecDocument, validateSpecDocument, type JobSpec } from '../core/jobSpec.js';

export interface LoadedJobFile {
  spec: JobSpec;
  /** Local files to upload before submitting: ref → path. */
  uploads: Map<string, string>;
}

type Item = Record<string, unknown>;
const isItem = (v: unknown): v is Item => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Uploads a job file's local files to a node, skipping those it already holds (content-addressed:
 * an image archive sent once is not sent again); says so before a large one. Returns what was sent.
 */
export async function uploadJobFiles(blobs: BlobClient, uploads: Map<string, string>, onLargeFile?: (file: string, size: number) => void): Promise<{ sent: number; bytes: number }> {
  let sent = 0;
  let bytes = 0;
  for (const [ref, local] of uploads) {
    try {
      if (await blobs.has(ref)) continue;
      const { size } = await fs.stat(local);
      if (size > 50 * 1024 * 1024) onLargeFile?.(local, size);
      await blobs.uploadFile(local, ref);
      sent++;
      bytes += size;
    } catch (e) {
      throw new Error(`uploading ${local}: ${(e as Error).message}`);
    }
  }
  return { sent, bytes };
}

/** Loads and checks a job file; throws InvalidJobSpecError whose problems name `file:line`. */
export async function loadJobFile(file: string): Promise<LoadedJobFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new InvalidJobSpecError([{ path: file, message: `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  const doc = parseSpecDocument(text, file);
  const data = doc.data;
  const uploads = new Map<string, string>();
  const problems: SpecProblem[] = [];
  const base = path.dirname(file);
  const problemAt = (pointer: string, message: string) => {
    const line = doc.lineOf(pointer);
    problems.push({ path: `${pointer} (${file}${line ? `:${line}` : ''})`, message });
  };
  const refOf = async (pointer: string, local: string): Promise<string | null> => {
    const abs = path.resolve(base, local);
    try {
      const ref = await refOfFile(abs);
      uploads.set(ref, abs);
      return ref;
    } catch (e) {
      problemAt(pointer, `cannot read ${JSON.stringify(local)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return null;
    }
  };

  // Where each entry of an expanded list came from, to name the right line of a later problem.
  const origins = new Map<string, number[]>();
  const expandList = async (owner: unknown, key: string, where: string) => {
    if (!isItem(owner) || !Array.isArray(owner[key])) return;
    const out: unknown[] = [];
    const from: number[] = [];
    for (const [i, item] of (owner[key] as unknown[]).entries()) {
      if (isItem(item) && typeof item.files === 'string') {
        const { files, ...rest } = item;
        const matches = (await glob(files, { cwd: base, onlyFiles: true, expandDirectories: false })).sort();
        if (!matches.length) problemAt(`${where}/${i}/files`, `${JSON.stringify(files)} matches no file (relative to ${base})`);
        for (const m of matches) {
          const ref = await refOf(`${where}/${i}/files`, m);
          out.push({ ...rest, name: path.basename(m), ref });
          from.push(i);
        }
      } else if (isItem(item) && typeof item.file === 'string') {
        const { file: local, ...rest } = item;
        out.push({ name: path.basename(local), ...rest, ref: await refOf(`${where}/${i}/file`, local) });
        from.push(i);
      } else {
        out.push(item);
        from.push(i);
      }
    }
    owner[key] = out;
    origins.set(where, from);
  };
  await expandList(data, 'inputs', '/inputs');
  await expandList(isItem(data) ? data.split : undefined, 'inputs', '/split/inputs');
  if (isItem(data) && isItem(data.imageArchive) && typeof data.imageArchive.file === 'string') {
    const { file: local, ...rest } = data.imageArchive;
    const ref = await refOf('/imageArchive/file', local);
    data.imageArchive = { ...rest, ref };
    // Say now, with the line, when the archive cannot serve the image: not after uploading it.
    if (ref && typeof data.image === 'string') {
      const problem = await imageArchiveProblem(data.image, createReadStream(path.resolve(base, local)));
      if (problem) problemAt('/imageArchive/file', `${JSON.stringify(local)} ${problem}`);
    }
  }
  if (problems.length) throw new InvalidJobSpecError(problems);

  const origin = (pointer: string) => {
    for (const [where, from] of origins) {
      const m = new RegExp(`^${where}/(\\d+)(/.*)?$`).exec(pointer);
      if (m) return `${where}/${from[Number(m[1])] ?? m[1]}${m[2] ?? ''}`;
    }
    return pointer;
  };
  return { spec: validateSpecDocument(doc, file, data, origin), uploads };
}
