/**
 * Compares two copies' results when byte equality is too strict, on the requestor's node:
 * images within a tolerance (PNG decoded with pngjs, compared with pixelmatch and PSNR), or the
 * user's comparator command in a sandboxed container. The verdict and its evidence are kept on
 * the newer attempt, so GraphQL shows why two results were counted as one. Idempotent: a
 * repeated comparison overwrites its own evidence.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { and, eq, inArray } from 'drizzle-orm';
import type Docker from 'dockerode';
import { PNG } from 'pngjs';
import { compareImages, cropImage, type CompareSpec, type DecodedImage, type ImageTolerance } from '../core/compare.js';
import type { CropRect } from '../core/verify.js';
import { FailureType } from '../core/failures.js';
import type { BlobStore } from '../blobs/store.js';
import type { Db } from '../schema/db.js';
import { attempts, type Comparison, type OutputFile } from '../schema/tables.js';
import { LABEL_PREFIX, runInSandbox } from '../adapters/sandbox.js';
import type { SubtaskRef } from './types.js';

export interface CompareDeps {
  db: Db;
  blobs: BlobStore;
  /** The requestor's Docker engine, for comparator commands (opened when first needed). */
  docker: () => Promise<Docker>;
  workRoot?: string;
}

export interface CompareRequest extends SubtaskRef {
  /** The new result's attempt. */
  attempt: number;
  /** An attempt whose result stands for a group of agreeing results. */
  against: number;
  compare: CompareSpec;
}

export type CompareOutcome = Comparison;

type ResultFiles = { stdoutRef: string | null; outputs: OutputFile[] };

function decodePng(bytes: Buffer, what: string): DecodedImage {
  try {
    const png = PNG.sync.read(bytes);
    return { width: png.width, height: png.height, data: png.data };
  } catch (e) {
    throw new Error(`${what} is not a readable PNG: ${(e as Error).message}`);
  }
}

export function createCompareActivities(deps: CompareDeps) {
  const { db } = deps;

  async function compareAsImages(a: ResultFiles, b: ResultFiles, spec: Extract<CompareSpec, { kind: 'image' }>, against: number): Promise<Omit<Comparison, 'against'>> {
    const byPath = (r: ResultFiles) => new Map(r.outputs.map((o) => [o.path, o.ref]));
    const [pa, pb] = [byPath(a), byPath(b)];
    const paths = [...new Set([...pa.keys(), ...pb.keys()])].sort();
    if (!paths.length) return { same: a.stdoutRef === b.stdoutRef, detail: 'no output files; stdout compared exactly' };
    const details: string[] = [];
    let same = true;
    let worstRatio = 0;
    let worstPsnr = Infinity;
    for (const p of paths) {
      const [ra, rb] = [pa.get(p), pb.get(p)];
      if (!ra || !rb) {
        same = false;
        details.push(`${p}: only in attempt ${ra ? 'new' : against}`);
        continue;
      }
      if (ra === rb) continue;
      if (!/\.png$/i.test(p)) {
        same = false;
        details.push(`${p}: bytes differ (not a PNG, compared exactly)`);
        continue;
      }
      let cmp;
      try {
        cmp = compareImages(decodePng(await deps.blobs.read(ra), p), decodePng(await deps.blobs.read(rb), p), spec);
      } catch (e) {
        same = false;
        details.push(`${p}: ${(e as Error).message}`);
        continue;
      }
      worstRatio = Math.max(worstRatio, cmp.diffRatio);
      worstPsnr = Math.min(worstPsnr, cmp.psnr);
      if (!cmp.same) same = false;
      details.push(`${p}: ${cmp.detail}`);
    }
    return {
      same,
      detail: details.length ? details.join('; ') : 'every output byte-identical',
      diffRatio: worstRatio,
      psnr: Number.isFinite(worstPsnr) ? worstPsnr : null,
    };
  }

  async function compareByCommand(jobId: string, index: number, attempt: number, against: number, a: ResultFiles, b: ResultFiles, spec: Extract<CompareSpec, { kind: 'command' }>): Promise<Omit<Comparison, 'against'>> {
    let docker: Docker;
    try {
      docker = await deps.docker();
    } catch (e) {
      throw ApplicationFailure.nonRetryable(`the comparator needs a Docker engine on the requestor's node: ${(e as Error).message}`, FailureType.ComparatorFailed);
    }
    const root = deps.workRoot ?? os.tmpdir();
    await fs.mkdir(root, { recursive: true });
    const dir = await fs.mkdtemp(path.join(root, 'golemflow-compare-'));
    try {
      for (const [side, r] of [['a', b], ['b', a]] as const) {
        // a: the earlier result (`against`), b: the new one.
        const root = path.join(dir, 'in', side);
        await fs.mkdir(root, { recursive: true });
        if (r.stdoutRef) await fs.writeFile(path.join(root, 'stdout'), await deps.blobs.read(r.stdoutRef));
        for (const o of r.outputs) {
          const dest = path.join(root, 'outputs', o.path);
          if (!dest.startsWith(path.join(root, 'outputs') + path.sep)) continue;
          await fs.mkdir(path.dirname(dest), { recursive: true });
          await fs.writeFile(dest, await deps.blobs.read(o.ref));
        }
      }
      await fs.mkdir(path.join(dir, 'out'));
      // World-readable so the sandbox's unprivileged user can read both results.
      await fs.chmod(dir, 0o755);
      const res = await runInSandbox(docker, {
        name: `golemflow-compare-${jobId}-${index}-${attempt}-${against}`.replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 120),
        image: spec.image,
        command: spec.command,
        inputDir: path.join(dir, 'in'),
        outputDir: path.join(dir, 'out'),
        logDir: path.join(dir, 'logs'),
        cpus: 1,
        memoryBytes: 512 * 1024 * 1024,
        timeoutMs: spec.timeoutSeconds * 1000,
        labels: { [`${LABEL_PREFIX}.job`]: jobId, [`${LABEL_PREFIX}.role`]: 'comparator' },
      });
      const out = (await fs.readFile(res.stdoutFile, 'utf8').catch(() => '')).trim().slice(-500);
      const err = (await fs.readFile(res.stderrFile, 'utf8').catch(() => '')).trim().slice(-500);
      if (res.timedOut) throw ApplicationFailure.nonRetryable(`the comparator did not finish in ${spec.timeoutSeconds} s`, FailureType.ComparatorFailed);
      if (res.exitCode !== 0 && res.exitCode !== 1)
        throw ApplicationFailure.nonRetryable(`the comparator failed with exit code ${res.exitCode}: ${err || out || 'no output'}`, FailureType.ComparatorFailed);
      return { same: res.exitCode === 0, detail: `comparator exit ${res.exitCode}${out ? `: ${out}` : ''}` };
    } catch (e) {
      if (e instanceof ApplicationFailure) throw e;
      const msg = (e as Error).message;
      if (/No such image/i.test(msg)) throw ApplicationFailure.nonRetryable(`the comparator's image ${spec.image} is not on the requestor's Docker engine`, FailureType.ComparatorFailed);
      throw e;
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  return {
    /**
     * Compares the result of `attempt` with that of `against`; records the verdict and its
     * evidence on `attempt`. Returns whether the two count as the same result.
     */
    async compareResults({ jobId, index, attempt, against, compare }: CompareRequest): Promise<CompareOutcome> {
      const rows = await db
        .select({ number: attempts.number, stdoutRef: attempts.stdoutRef, outputs: attempts.outputs, comparisons: attempts.comparisons })
        .from(attempts)
        .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), inArray(attempts.number, [attempt, against])));
      const mine = rows.find((r) => r.number === attempt);
      const theirs = rows.find((r) => r.number === against);
      if (!mine || !theirs) throw new Error(`attempts ${attempt} and ${against} of ${jobId}/${index} are not both recorded yet`);
      const a = { stdoutRef: mine.stdoutRef, outputs: mine.outputs ?? [] };
      const b = { stdoutRef: theirs.stdoutRef, outputs: theirs.outputs ?? [] };
      let verdict: Omit<Comparison, 'against'>;
      if (compare.kind === 'image') verdict = await compareAsImages(a, b, compare, against);
      else if (compare.kind === 'command') verdict = await compareByCommand(jobId, index, attempt, against, a, b, compare);
      else verdict = { same: false, detail: 'exact comparison: bytes differ' };
      const comparison: Comparison = { against, ...verdict };
      const kept = (mine.comparisons ?? []).filter((c) => c.against !== against);
      await db
        .update(attempts)
        .set({ comparisons: [...kept, comparison] })
        .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), eq(attempts.number, attempt)));
      return comparison;
    },

    /** The size of a result's first PNG output (null: it has none, so no crop check). */
    async imageSize({ jobId, index, attempt }: SubtaskRef & { attempt: number }): Promise<{ width: number; height: number } | null> {
      const [row] = await db
        .select({ outputs: attempts.outputs })
        .from(attempts)
        .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), eq(attempts.number, attempt)));
      const png = (row?.outputs ?? []).filter((o) => /\.png$/i.test(o.path)).sort((a, b) => (a.path < b.path ? -1 : 1))[0];
      if (!png) return null;
      const img = decodePng(await deps.blobs.read(png.ref), png.path);
      return { width: img.width, height: img.height };
    },

    /**
     * A crop spot check: each `NAME.crop-K.png` of the check's outputs is compared, inside
     * rectangle K, with `NAME.png` of the result checked. The check's images may be the whole
     * frame (only the crop rendered) or just the crop. Records the evidence on the check.
     */
    async compareCrops({ jobId, index, attempt, against, rects, tolerance }: SubtaskRef & { attempt: number; against: number; rects: CropRect[]; tolerance: ImageTolerance }): Promise<CompareOutcome> {
      const rows = await db
        .select({ number: attempts.number, outputs: attempts.outputs })
        .from(attempts)
        .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), inArray(attempts.number, [attempt, against])));
      const check = new Map((rows.find((r) => r.number === attempt)?.outputs ?? []).map((o) => [o.path, o.ref]));
      const frames = (rows.find((r) => r.number === against)?.outputs ?? []).filter((o) => /\.png$/i.test(o.path));
      const details: string[] = [];
      let same = frames.length > 0;
      let worstRatio = 0;
      let worstPsnr = Infinity;
      if (!frames.length) details.push('the result checked has no PNG output');
      for (const frame of frames) {
        const full = decodePng(await deps.blobs.read(frame.ref), frame.path);
        for (const [k, r] of rects.entries()) {
          const name = frame.path.replace(/(\.png)$/i, `.crop-${k}$1`);
          const ref = check.get(name);
          if (!ref) {
            same = false;
            details.push(`${name}: missing from the check's outputs`);
            continue;
          }
          const w = r.x1 - r.x0;
          const h = r.y1 - r.y0;
          let crop: DecodedImage;
          try {
            crop = decodePng(await deps.blobs.read(ref), name);
          } catch (e) {
            same = false;
            details.push((e as Error).message);
            continue;
          }
          if (crop.width === full.width && crop.height === full.height) crop = cropImage(crop, r.x0, r.y0, w, h);
          const cmp = compareImages(cropImage(full, r.x0, r.y0, w, h), crop, tolerance);
          worstRatio = Math.max(worstRatio, cmp.diffRatio);
          worstPsnr = Math.min(worstPsnr, cmp.psnr);
          if (!cmp.same) {
            same = false;
            details.push(`${frame.path} crop ${k} (${r.x0},${r.y0})-(${r.x1},${r.y1}): ${cmp.detail}`);
          }
        }
      }
      if (same) details.push(`${frames.length * rects.length} crops of ${frames.length} frame${frames.length === 1 ? '' : 's'} match (worst: ${(worstRatio * 100).toFixed(3)}% of pixels differ)`);
      const comparison: Comparison = { against, same, detail: details.join('; '), diffRatio: worstRatio, psnr: Number.isFinite(worstPsnr) ? worstPsnr : null };
      await db
        .update(attempts)
        .set({ comparisons: [comparison] })
        .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), eq(attempts.number, attempt)));
      return comparison;
    },

    /** Gives a result the key of the group it agrees with (comparison with a tolerance). */
    async setResultKey({ jobId, index, attempt, resultKey }: SubtaskRef & { attempt: number; resultKey: string }): Promise<void> {
      await db
        .update(attempts)
        .set({ resultKey })
        .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), eq(attempts.number, attempt)));
    },
  };
}

export type CompareActivities = ReturnType<typeof createCompareActivities>;
