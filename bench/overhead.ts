/**
 * npm run bench:overhead: what Golemflow adds on top of running containers. 100 subtasks that
 * each `sleep 1` on 10 local providers, against the same 100 containers (same image, same
 * hardening) run directly through dockerode 10 at a time. Prints both makespans and the ratio,
 * the first result's latency, each subtask's overhead and providers' idle time between runs
 * (from Docker's own events, beside the direct run's).
 * Redundancy is 1 unless --redundancy says otherwise: the figure is the orchestration's overhead,
 * not verification's cost. With --redundancy 2 the direct run runs every container twice, and
 * Golemflow's makespan against a redundancy-1 run's says what verification costs.
 *
 *   npm run bench:overhead -- [--subtasks 100] [--providers 10] [--sleep 1] [--redundancy 1] [--cold]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Command, Option } from 'commander';
import pLimit from 'p-limit';
import { LABEL_PREFIX, runInSandbox } from '../adapters/sandbox.js';
import { loadConfig } from '../infra/config.js';
import { ensureDocker } from '../infra/docker.js';
import { gql } from '../infra/graphqlClient.js';
import { startProviderNode } from '../workers/provider.js';
import { startRequestorNode } from '../workers/requestor.js';
import { benchProvider, benchStack } from './setup.js';
import { cpuByRole, formatCpu, snapshot, type KnownPids } from './cpu.js';
import { idleGaps, lives, poolGaps, watchContainers } from './containerTimeline.js';
import { readWay } from './temporalWay.js';
import { and, eq } from 'drizzle-orm';
import type { Db } from '../schema/db.js';
import { agreements, attempts, jobs, subtasks } from '../schema/tables.js';

const o = new Command('bench:overhead')
  .option('--subtasks <n>', 'subtasks', Number, 100)
  .option('--providers <n>', 'local providers (and direct parallelism)', Number, 10)
  .option('--sleep <s>', 'seconds each container sleeps', Number, 1)
  .option('--port <p>', 'Temporal dev server port for the bench', Number, 27233)
  .option('--max-parallel <n>', "the job's maxParallel (default: every subtask at once)", Number)
  .option('--redundancy <n>', 'copies of each subtask (2: verification compares two results; the direct run then runs every container twice)', Number, 1)
  .option('--cold', "measure the node's first job (runs before session 14 did): no warm-up job first")
  .option('--providers-in-process', "run the providers in the bench's own process, beside the requestor node (as runs before 2026-11-27 did)")
  .addOption(new Option('--temporal <mode>', "dev: the Temporal CLI's dev server (SQLite); server: Temporal's own server on PostgreSQL (TEMPORAL_POSTGRES_URL), fresh databases each run").choices(['dev', 'server']).default('dev'))
  .parse()
  .opts<{ subtasks: number; providers: number; sleep: number; port: number; maxParallel?: number; redundancy: number; providersInProcess?: boolean; cold?: boolean; temporal: 'dev' | 'server' }>();

const image = 'golemflow/compute:1';
const log = (m: string) => console.log(`· ${m}`);

/** The direct run: its makespan, and when its first container had run and was removed (the floor under Golemflow's first result). */
async function direct(docker: Awaited<ReturnType<typeof ensureDocker>>, work: string): Promise<{ seconds: number; firstSeconds: number }> {
  const limit = pLimit(o.providers);
  const t0 = performance.now();
  let first = Infinity;
  await Promise.all(
    Array.from({ length: o.subtasks * o.redundancy }, (_, i) =>
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
        first = Math.min(first, performance.now());
      }),
    ),
  );
  return { seconds: (performance.now() - t0) / 1000, firstSeconds: (first - t0) / 1000 };
}

const ms = (xs: number[], q: number) => (xs.length ? `${Math.round(quantile(xs, q) * 1000)} ms` : 'n/a');

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * What the job's rows say about where time went: when the first result was accepted, each
 * subtask's overhead, and how many runs were placed while their provider ran another. (Providers'
 * idle time comes from Docker's own events: containerTimeline.ts. The rows know a run's end only
 * as its result was recorded, a trip through Temporal later.) Overhead is the time from when the
 * subtask could have run (the market placed it,
 * or, for an agreement that waited behind its provider's busy slot, that slot's previous run
 * ended) to its acceptance, less its container's run: proposing, answering, starting and
 * removing the container, uploading, recording. Waiting for a slot is the market being full,
 * not overhead (the direct baseline waits for its slots too). Providers here have one slot.
 */
async function timingOf(db: Db, jobId: string, submittedAt: number) {
  const rows = await db
    .select({ index: subtasks.index, finishedAt: subtasks.finishedAt, providerId: attempts.providerId, proposedAt: agreements.proposedAt, decidedAt: agreements.decidedAt, attemptFinished: attempts.finishedAt, wall: attempts.wallSeconds })
    .from(subtasks)
    .innerJoin(attempts, and(eq(attempts.jobId, subtasks.jobId), eq(attempts.subtaskIndex, subtasks.index), eq(attempts.verdict, 'accepted')))
    .innerJoin(agreements, eq(agreements.id, attempts.agreementId))
    .where(eq(subtasks.jobId, jobId));
  const firstResult = (Math.min(...rows.map((r) => r.finishedAt!.getTime())) - submittedAt) / 1000;
  const first = rows.reduce((a, b) => (b.finishedAt!.getTime() < a.finishedAt!.getTime() ? b : a));
  const [job] = await db.select({ startedAt: jobs.startedAt }).from(jobs).where(eq(jobs.id, jobId));
  // The first result's way, as the rows saw it (ms since 1970; Docker's and Temporal's steps are added by the caller).
  const firstWay = { index: first.index, prepared: job?.startedAt?.getTime(), proposed: first.proposedAt.getTime(), approved: first.decidedAt?.getTime(), recorded: first.attemptFinished?.getTime(), accepted: first.finishedAt?.getTime() };
  const overhead: number[] = [];
  let queued = 0;
  const byProvider = new Map<string, Array<{ start: number; end: number; placed: number; accepted: number }>>();
  for (const r of rows) {
    const end = r.attemptFinished!.getTime() / 1000;
    const run = { start: end - (r.wall ?? 0), end, placed: r.proposedAt.getTime() / 1000, accepted: r.finishedAt!.getTime() / 1000 };
    byProvider.set(r.providerId, [...(byProvider.get(r.providerId) ?? []), run]);
  }
  for (const runs of byProvider.values()) {
    runs.sort((a, b) => a.start - b.start);
    runs.forEach((run, i) => {
      const ready = Math.max(run.placed, i > 0 ? runs[i - 1].end : 0);
      if (i > 0 && run.placed < runs[i - 1].end) queued++;
      overhead.push(run.accepted - ready - (run.end - run.start));
    });
  }
  return { firstResult, firstWay, overhead, queued };
}

/** Submits a job through the API; its id. */
async function submit(apiUrl: string, spec: object): Promise<string> {
  const { submitJob } = await gql<any>(apiUrl, 'mutation($s: JSON!) { submitJob(spec: $s) { job { id } } }', { s: spec });
  return submitJob.job.id;
}

/** Polls a job every 100 ms until it ends; how it ended. */
async function finished(apiUrl: string, id: string): Promise<{ status: string; error: string | null }> {
  for (;;) {
    const { job } = await gql<any>(apiUrl, 'query($id: ID!) { job(id: $id) { status error } }', { id });
    if (!['QUEUED', 'RUNNING'].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts bench/providerHost.ts and waits until its providers are online (it prints "ready"). */
async function startProviderHost(opts: { count: number; apiUrl: string; temporalAddress: string; workDir: string }): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./providerHost.ts', import.meta.url)), JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the provider host exited (${code}) before its providers were online`)));
  });
  // Its providers' log lines, as the in-process ones printed them.
  child.stdout!.pipe(process.stdout);
  return child;
}

async function stopProviderHost(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function main() {
  const { work, docker, temporal } = await benchStack('bench', { temporalPort: o.port, temporal: o.temporal, log });
  const config = { ...loadConfig({ DATABASE_URL: process.env.DATABASE_URL }), temporalAddress: temporal.address, dataDir: path.join(work, 'data'), apiPort: 0, requestorTaskQueue: 'golemflow.bench' };
  const node = await startRequestorNode(config);
  // Calls below act as the node's own requestor.
  process.env.GOLEMFLOW_API_KEY = node.apiKey;
  const providers = [];
  let host: ChildProcess | null = null;
  try {
    const where = { apiUrl: node.apiUrl, temporalAddress: temporal.address, workDir: work };
    if (o.providersInProcess) for (let i = 0; i < o.providers; i++) providers.push(await startProviderNode(benchProvider(i, where)));
    else host = await startProviderHost({ count: o.providers, ...where });
    log(`providers: ${o.providers}, ${o.providersInProcess ? "in the bench's process" : 'in a process of their own (bench/providerHost.ts)'}`);

    if (!o.cold) {
      // A market runs job after job: the node's first job also pays for code loaded and compiled
      // on first use (its first workflow task took 0.12 s, later ones 0.02 s).
      const t = performance.now();
      const warm = { name: 'bench:overhead warm-up', image, command: ['true'], split: { kind: 'range', start: 0, end: 1, step: 1 }, redundancy: 1, resources: { memory: '64m' } };
      const { status } = await finished(node.apiUrl, await submit(node.apiUrl, warm));
      log(`warm-up job of one subtask: ${status} in ${((performance.now() - t) / 1000).toFixed(2)} s (not measured; --cold skips it)`);
    }

    // Whose CPU is whose: this process is the requestor node (and the bench's polling).
    const known: KnownPids = { 'requestor node': process.pid, 'provider host': host?.pid, Temporal: temporal.pid };
    log(`direct: ${o.subtasks * o.redundancy} containers, ${o.providers} at a time`);
    const containers = await watchContainers(docker);
    const beforeDirect = await snapshot();
    const { seconds: directSeconds, firstSeconds: directFirst } = await direct(docker, work);
    const directCpu = cpuByRole(beforeDirect, await snapshot(), known);

    log(`golemflow: ${o.subtasks} subtasks on ${o.providers} providers`);
    const spec = { name: 'bench:overhead', image, command: ['sleep', String(o.sleep)], split: { kind: 'range', start: 0, end: o.subtasks, step: 1 }, redundancy: o.redundancy, maxParallel: o.maxParallel ?? o.subtasks, resources: { memory: '64m' } };
    const beforeGolemflow = await snapshot();
    const t0 = performance.now();
    // The wall clock at the call: every time of the job's rows, Docker and Temporal is counted from it.
    const submittedAt = Date.now();
    const id = await submit(node.apiUrl, spec);
    const submitSeconds = (performance.now() - t0) / 1000;
    const job = await finished(node.apiUrl, id);
    const golemflowSeconds = (performance.now() - t0) / 1000;
    const golemflowCpu = cpuByRole(beforeGolemflow, await snapshot(), known);
    if (job.status !== 'SUCCEEDED') throw new Error(`bench job ${job.status}: ${job.error}`);
    const timing = await timingOf(node.database.db, id, submittedAt);
    const way = await readWay(node.client, id, timing.firstWay.index);
    const events = await containers.stop();
    const directGaps = poolGaps(lives(events, (e) => (e.name.startsWith('gf-bench-direct-') ? 'direct' : null)), o.providers);
    const idle = idleGaps(lives(events, (e) => (e.labels[`${LABEL_PREFIX}.job`] === id ? e.labels[`${LABEL_PREFIX}.provider`] : null)));

    console.log(`\nsubtasks: ${o.subtasks} × sleep ${o.sleep} s, redundancy ${o.redundancy}, parallelism ${o.providers}`);
    console.log(`ideal makespan:            ${(((o.subtasks * o.redundancy) / o.providers) * o.sleep).toFixed(2)} s`);
    console.log(`direct dockerode makespan: ${directSeconds.toFixed(2)} s`);
    console.log(`golemflow makespan:        ${golemflowSeconds.toFixed(2)} s  (submit to SUCCEEDED, through GraphQL)`);
    console.log(`ratio golemflow / direct:  ${(golemflowSeconds / directSeconds).toFixed(3)}`);
    console.log(`first result:              ${(timing.firstResult - submitSeconds).toFixed(2)} s after submitJob returned (${timing.firstResult.toFixed(2)} s after it was called); the direct run's first container was done ${directFirst.toFixed(2)} s after it began`);
    const w = timing.firstWay;
    const firstLife = lives(events, (e) => (e.labels[`${LABEL_PREFIX}.job`] === id && e.labels[`${LABEL_PREFIX}.subtask`] === String(w.index) ? 'first' : null)).find((l) => l.died !== undefined);
    // Seconds after the call, from ms since 1970 (Docker's clock counts seconds: times 1000).
    const t = (ms: number | undefined) => (ms === undefined ? 'n/a' : ((ms - submittedAt) / 1000).toFixed(2));
    const tDocker = (seconds: number | undefined) => t(seconds === undefined ? undefined : seconds * 1000);
    console.log(`  its way (s after the call): job prepared ${t(w.prepared)}, proposed ${t(w.proposed)}, approved ${t(w.approved)}, container made ${tDocker(firstLife?.created)}, started ${tDocker(firstLife?.started)}, exited ${tDocker(firstLife?.died)}, result recorded ${t(w.recorded)}, accepted ${t(w.accepted)}`);
    if (way) {
      console.log(`  through Temporal (${way.workflowId.slice(id.length + 1)}): job started ${t(way.jobStarted)}, prepareJob asked ${t(way.prepareScheduled)}, taken ${t(way.prepareStarted)}, done ${t(way.prepareCompleted)}, asked for its workflow ${t(way.childAsked)}, which started ${t(way.childStarted)}, first task taken ${t(way.firstTaskStarted)}, done ${t(way.firstTaskCompleted)}; proposal asked ${t(way.proposeScheduled)}, taken ${t(way.proposeStarted)}, answered ${t(way.proposeCompleted)}; run asked ${t(way.runScheduled)}, taken ${t(way.runStarted)}, reported ${t(way.runCompleted)}`);
    }
    console.log(`overhead per subtask:      p50 ${ms(timing.overhead, 0.5)}  p90 ${ms(timing.overhead, 0.9)}  p99 ${ms(timing.overhead, 0.99)}  (ready to run to accepted, less the container's run)`);
    console.log(`placed while its provider ran another: ${timing.queued} of ${timing.overhead.length} runs (negotiated ahead, waiting behind the run)`);
    console.log(`provider idle between runs: p50 ${ms(idle.gaps, 0.5)}  p90 ${ms(idle.gaps, 0.9)}  p99 ${ms(idle.gaps, 0.99)}  (Docker's events: a container's exit to the next start on its provider)`);
    const madeAfter = idle.late.map((l) => l.madeAfter);
    console.log(`  next container made ahead: ${idle.ahead.length} of ${idle.gaps.length}, idle p50 ${ms(idle.ahead, 0.5)}; made after the exit: ${idle.late.length}, ${ms(madeAfter, 0.5)} p50 after it, idle p50 ${ms(idle.late.map((l) => l.gap), 0.5)}`);
    console.log(`direct idle between runs:  p50 ${ms(directGaps, 0.5)}  p90 ${ms(directGaps, 0.9)}  p99 ${ms(directGaps, 0.99)}  (a container's exit to the next start: remove, create, start)`);
    const cores = os.availableParallelism();
    console.log(`CPU, direct:               ${formatCpu(directCpu, directSeconds, cores)}`);
    console.log(`CPU, golemflow:            ${formatCpu(golemflowCpu, golemflowSeconds, cores)}`);
    const controlPlane = [...golemflowCpu.entries()].filter(([role]) => !['Docker', 'kernel', 'other'].includes(role)).reduce((a, [, s]) => a + s, 0);
    console.log(`control plane CPU:         ${Math.round((controlPlane * 1000) / (o.subtasks * o.redundancy))} ms per run (the requestor node, Temporal, the provider host and PostgreSQL)`);
  } finally {
    for (const p of providers) await p.close();
    if (host) await stopProviderHost(host);
    await node.close();
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
