/**
 * npm run bench:scale: one job of many tiny subtasks (`true`, redundancy 1) on many local
 * providers. Prints the subtasks per second sustained (from the first accepted result to the
 * last) and the requestor node's peak resident memory (its own process, read from
 * /proc/<pid>/status while the job runs), with where that memory stood before the job.
 *
 *   npm run bench:scale -- [--subtasks 10000] [--providers 20] [--parallel 200]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { readNodeKey } from '../api/auth.js';
import { gql } from '../infra/graphqlClient.js';
import { freePort } from '../test/support/scratch.js';
import { startProviderNode, type ProviderNode } from '../workers/provider.js';
import { benchStack } from './setup.js';

const o = new Command('bench:scale')
  .option('--subtasks <n>', 'subtasks in the job', Number, 10_000)
  .option('--providers <n>', 'local providers (one slot each)', Number, 20)
  .option('--parallel <n>', "the job's maxParallel", Number, 200)
  .option('--port <p>', 'Temporal dev server port for the bench', Number, 27283)
  .parse()
  .opts<{ subtasks: number; providers: number; parallel: number; port: number }>();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (m: string) => console.log(`· ${m}`);

/** Resident memory of a process now and at its peak (VmRSS, VmHWM), in MiB. */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function main() {
  const { work, temporal } = await benchStack('bench-scale', { temporalPort: o.port, log });
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const dataDir = path.join(work, 'requestor');
  // The requestor node in a process of its own, so its memory is its own.
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'workers/requestor.ts')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, TEMPORAL_ADDRESS: temporal.address, API_PORT: String(port), GOLEMFLOW_DATA: dataDir, REQUESTOR_TASK_QUEUE: `golemflow.bench-scale-${port}`, LOG_LEVEL: 'warn', TEMPORAL_LOG_LEVEL: 'ERROR' },
  });
  const providers: ProviderNode[] = [];
  try {
    for (let i = 0; i < 600 && !(await fetch(`${apiUrl}/health`).then((r) => r.ok, () => false)); i++) {
      if (child.exitCode !== null) throw new Error(`the requestor node exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const apiKey = await readNodeKey(dataDir);
    for (let i = 0; i < o.providers; i++)
      providers.push(await startProviderNode({ name: `scale-${i}`, cpus: 1, memory: '256m', apiUrl, temporalAddress: temporal.address, buildRuntimes: false, benchmark: false, workDir: path.join(work, `p${i}`) }));
    const before = await memoryOf(child.pid!);
    log(`requestor node before the job: ${before.rss.toFixed(0)} MiB resident`);

    const spec = { name: 'bench:scale', image: 'golemflow/compute:1', command: ['true'], split: { kind: 'range', start: 0, end: o.subtasks, step: 1 }, redundancy: 1, maxParallel: o.parallel, resources: { memory: '32m' } };
    const t0 = performance.now();
    const { submitJob } = await gql<any>(apiUrl, 'mutation($s: JSON!) { submitJob(spec: $s) { job { id } } }', { s: spec }, { apiKey });
    const id = submitJob.job.id;
    let peak = before.peak;
    let firstAt: number | null = null;
    let job;
    let lastPrint = 0;
    for (;;) {
      job = (await gql<any>(apiUrl, 'query($id: ID!) { job(id: $id) { status error succeededCount } }', { id }, { apiKey })).job;
      peak = Math.max(peak, (await memoryOf(child.pid!)).rss);
      if (firstAt === null && job.succeededCount > 0) firstAt = performance.now();
      if (performance.now() - lastPrint > 10_000) {
        lastPrint = performance.now();
        log(`${job.succeededCount} of ${o.subtasks} done after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      if (!['QUEUED', 'RUNNING'].includes(job.status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const seconds = (performance.now() - t0) / 1000;
    if (job.status !== 'SUCCEEDED') throw new Error(`bench job ${job.status}: ${job.error}`);
    const after = await memoryOf(child.pid!);
    const sustained = (o.subtasks - 1) / ((performance.now() - (firstAt ?? t0)) / 1000);
    console.log(`\nsubtasks: ${o.subtasks} × true, ${o.providers} providers, maxParallel ${o.parallel}`);
    console.log(`job:                        ${seconds.toFixed(1)} s, submit to SUCCEEDED`);
    console.log(`first result:               ${(((firstAt ?? t0) - t0) / 1000).toFixed(2)} s`);
    console.log(`sustained:                  ${sustained.toFixed(1)} subtasks/s (first result to the end)`);
    console.log(`requestor resident memory:  ${before.rss.toFixed(0)} MiB before, peak ${Math.max(peak, after.peak).toFixed(0)} MiB, ${after.rss.toFixed(0)} MiB after`);
  } finally {
    for (const p of providers) await p.close().catch(() => undefined);
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
