/**
 * The provider's start-up benchmark: a fixed computation run in the sandbox, under the CPU
 * share the provider offers. Its score (100 = the reference machine) lets requestors rank
 * providers by speed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { runInSandbox } from './sandbox.js';

export const BENCHMARK_IMAGE = 'golemflow/compute:1';
const BENCHMARK_COMMAND = ['primes', '0', '400000'];
const EXPECTED_OUTPUT = '33860';
/** Wall seconds the reference machine takes (one core of the project's 2-core development machine). */
const REFERENCE_SECONDS = 0.6;

export async function runBenchmark(docker: Docker, opts: { name: string; cpus: number; workDir: string }): Promise<{ score: number; seconds: number }> {
  const dir = path.join(opts.workDir, 'benchmark');
  await fs.rm(dir, { recursive: true, force: true });
  for (const d of ['in', 'out']) await fs.mkdir(path.join(dir, d), { recursive: true });
  try {
    const r = await runInSandbox(docker, {
      name: `gf-benchmark-${opts.name}`,
      image: BENCHMARK_IMAGE,
      command: BENCHMARK_COMMAND,
      inputDir: path.join(dir, 'in'),
      outputDir: path.join(dir, 'out'),
      logDir: path.join(dir, 'log'),
      // Single-threaded work: the share of one core decides its speed.
      cpus: Math.min(1, opts.cpus),
      memoryBytes: 64 * 1024 ** 2,
      timeoutMs: 60_000,
    });
    const out = (await fs.readFile(r.stdoutFile, 'utf8')).trim();
    if (r.exitCode !== 0 || out !== EXPECTED_OUTPUT) throw new Error(`benchmark gave ${JSON.stringify(out)} (exit ${r.exitCode}), expected ${EXPECTED_OUTPUT}`);
    return { score: Math.round((100 * REFERENCE_SECONDS) / Math.max(r.wallSeconds, 0.01)), seconds: r.wallSeconds };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
