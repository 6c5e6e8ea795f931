/**
 * npm run bench:overhead: what Golemflow adds on top of running containers. 100 subtasks that
 * each `sleep 1` on 10 local providers, against the same 100 containers (same image, same
 * hardening) run directly through dockerode 10 at a time. Prints both makespans and the ratio.
 * Redundancy is 1 here: the figure is the orchestration's overhead, not verification's cost.
 *
 *   npm run bench:overhead -- [--subtasks 100] [--providers 10] [--sleep 1]
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import pLimit from 'p-limit';
import { runInSandbox } from '../adapters/sandbox.js';
import { loadConfig } from '../infra/config.js';
import { ensureDocker } from '../infra/docker.js';
import { gql } from '../infra/graphqlClient.js';
import { startProviderNode } from '../workers/provider.js';
import { startRequestorNode } from '../workers/requestor.js';
import { benchStack } from './setup.js';

const o = new Command('bench:overhead')
  .option('--subtasks <n>', 'subtasks', Number, 100)
  .option('--providers <n>', 'local providers (and direct parallelism)', Number, 10)
  .option('--sleep <s>', 'seconds each container sleeps', Number, 1)
  .option('--port <p>', 'Temporal dev server port for the bench', Number, 27233)
  .parse()
  .opts<{ subtasks: number; providers: number; sleep: number; port: number }>();

const image = 'golemflow/compute:1';
const log = (m: string) => console.log(`· ${m}`);

async function direct(docker: Awaited<ReturnType<typeof ensureDocker>>, work: string): Promise<number> {
  const limit = pLimit(o.providers);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.subtasks }, (_, i) =>
      limit(async () => {
        const dir = path.join(work, `direct-${i}`);
        await fs.mkdir(path.join(dir, 'in'), { recursive: true });
        await fs.mkdir(path.join(dir, 'out'), { recursive: true });
        const r = await runInSandbox(docker, {
          name: `gf-bench-direct-${i}`,
          image,
          command: ['sleep', String(o.sleep)],
          inputDir: path.join(dir, 'in'),
          outputDir: path.join(dir, 'out'),
          logDir: path.join(dir, 'log'),
          cpus: 1,
          memoryBytes: 64 * 1024 ** 2,
          timeoutMs: 60_000,
        });
        if (r.exitCode !== 0) throw new Error(`direct container ${i} exited ${r.exitCode}`);
      }),
    ),
  );
  return (performance.now() - t0) / 1000;
}

async function main() {
  const { work, docker, temporal } = await benchStack('bench', { temporalPort: o.port, log });
  const config = { ...loadConfig({ DATABASE_URL: process.env.DATABASE_URL }), temporalAddress: temporal.address, dataDir: path.join(work, 'data'), apiPort: 0, requestorTaskQueue: 'golemflow.bench' };
  const node = await startRequestorNode(config);
  // Calls below act as the node's own requestor.
  process.env.GOLEMFLOW_API_KEY = node.apiKey;
  const providers = [];
  try {
    for (let i = 0; i < o.providers; i++)
      providers.push(await startProviderNode({ name: `bench-${i}`, cpus: 1, memory: '512m', apiUrl: node.apiUrl, temporalAddress: temporal.address, buildRuntimes: false, workDir: path.join(work, `p${i}`) }));

    log(`direct: ${o.subtasks} containers, ${o.providers} at a time`);
    const directSeconds = await direct(docker, work);

    log(`golemflow: ${o.subtasks} subtasks on ${o.providers} providers`);
    const spec = { name: 'bench:overhead', image, command: ['sleep', String(o.sleep)], split: { kind: 'range', start: 0, end: o.subtasks, step: 1 }, redundancy: 1, maxParallel: o.subtasks, resources: { memory: '64m' } };
    const t0 = performance.now();
    const { submitJob } = await gql<any>(node.apiUrl, 'mutation($s: JSON!) { submitJob(spec: $s) { job { id } } }', { s: spec });
    const id = submitJob.job.id;
    let job;
    for (;;) {
      job = (await gql<any>(node.apiUrl, 'query($id: ID!) { job(id: $id) { status error startedAt finishedAt } }', { id })).job;
      if (!['QUEUED', 'RUNNING'].includes(job.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const golemflowSeconds = (performance.now() - t0) / 1000;
    if (job.status !== 'SUCCEEDED') throw new Error(`bench job ${job.status}: ${job.error}`);

    console.log(`\nsubtasks: ${o.subtasks} × sleep ${o.sleep} s, parallelism ${o.providers}`);
    console.log(`ideal makespan:            ${((o.subtasks / o.providers) * o.sleep).toFixed(2)} s`);
    console.log(`direct dockerode makespan: ${directSeconds.toFixed(2)} s`);
    console.log(`golemflow makespan:        ${golemflowSeconds.toFixed(2)} s  (submit to SUCCEEDED, through GraphQL)`);
    console.log(`ratio golemflow / direct:  ${(golemflowSeconds / directSeconds).toFixed(3)}`);
  } finally {
    for (const p of providers) await p.close();
    await node.close();
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
