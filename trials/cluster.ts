/**
 * npm run trial:cluster: the same job on the Temporal CLI's dev server and on Temporal's own
 * server on PostgreSQL (infra/temporalCluster.ts), and on the latter a restart of the Temporal
 * server mid-job. Prints the time each mode takes to start and the job's makespan on each, and
 * checks what must hold across the restart: the job completes with every subtask's result, and
 * no subtask has more than one accepted result.
 *
 *   npm run trial:cluster -- [--subtasks 12] [--providers 2] [--port 27400]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { and, eq, sql } from 'drizzle-orm';
import { ensureDocker } from '../infra/docker.js';
import { loadConfig } from '../infra/config.js';
import { gql } from '../infra/graphqlClient.js';
import { portOpen, waitFor } from '../infra/processes.js';
import { ensureTemporalCluster, postgresOf } from '../infra/temporalCluster.js';
import { ensureTemporalUi, TEMPORAL_UI_VERSION } from '../infra/temporalUi.js';
import { ensureTemporalServer } from '../infra/temporalServer.js';
import { ensureAllRuntimes } from '../runtimes/build.js';
import { attempts } from '../schema/tables.js';
import { scratchDatabase } from '../test/support/scratch.js';
import { startProviderNode, type ProviderNode } from '../workers/provider.js';
import { startRequestorNode } from '../workers/requestor.js';

const o = new Command('trial:cluster')
  .option('--subtasks <n>', 'subtasks in the job', Number, 12)
  .option('--providers <n>', 'local providers', Number, 2)
  .option('--port <p>', "Temporal server's frontend port (the dev server takes port + 100)", Number, 27400)
  .option('--admin-db <url>', 'PostgreSQL to make scratch databases on', 'postgres://postgres@127.0.0.1:5432/postgres')
  .parse()
  .opts<{ subtasks: number; providers: number; port: number; adminDb: string }>();

const log = (m: string) => console.log(`· ${m}`);
const seconds = (t0: number) => (performance.now() - t0) / 1000;

/** Runs the job on a Temporal at `address`; `during` runs once the first result is in. */
async function runJob(label: string, address: string, work: string, during?: () => Promise<void>) {
  const db = await scratchDatabase(o.adminDb, `golemflow_trial_cluster_${label}_${process.pid}`);
  const base = loadConfig({});
  const node = await startRequestorNode({ ...base, temporalAddress: address, databaseUrl: db.url, dataDir: path.join(work, label), apiPort: 0, requestorTaskQueue: `golemflow.trial-cluster-${label}-${process.pid}` });
  const providers: ProviderNode[] = [];
  try {
    for (let i = 0; i < o.providers; i++)
      providers.push(await startProviderNode({ name: `cluster-${label}-${i}`, cpus: 1, memory: '512m', apiUrl: node.apiUrl, temporalAddress: address, buildRuntimes: false, benchmark: false, checkInIntervalMs: 1000, workDir: path.join(work, `${label}-p${i}`) }));
    const spec = { name: `trial:cluster ${label}`, image: 'golemflow/compute:1', command: ['sh', '-c', 'sleep 1; echo {start}'], split: { kind: 'range', start: 0, end: o.subtasks, step: 1 }, merge: { kind: 'concat' }, redundancy: 1, maxParallel: o.providers * 2 };
    const t0 = performance.now();
    const { submitJob } = await gql<any>(node.apiUrl, 'mutation($s: JSON!) { submitJob(spec: $s) { job { id } } }', { s: spec }, { apiKey: node.apiKey });
    const id = submitJob.job.id;
    let job;
    let disturbed = false;
    for (;;) {
      job = (await gql<any>(node.apiUrl, 'query($id: ID!) { job(id: $id) { status error succeededCount result { value } } }', { id }, { apiKey: node.apiKey })).job;
      if (during && !disturbed && job.succeededCount > 0) {
        disturbed = true;
        await during();
      }
      if (!['QUEUED', 'RUNNING'].includes(job.status)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const makespan = seconds(t0);
    const problems: string[] = [];
    if (job.status !== 'SUCCEEDED') problems.push(`the job ended ${job.status}: ${job.error}`);
    const lines = (job.result?.value ?? '').trim().split('\n');
    const expected = Array.from({ length: o.subtasks }, (_, i) => String(i));
    if (lines.join(',') !== expected.join(',')) problems.push(`the merged result is ${JSON.stringify(lines)}, not 0..${o.subtasks - 1}`);
    const accepted = await node.database.db
      .select({ index: attempts.subtaskIndex, n: sql<number>`count(*)::int` })
      .from(attempts)
      .where(and(eq(attempts.jobId, id), eq(attempts.verdict, 'accepted')))
      .groupBy(attempts.subtaskIndex);
    const twice = accepted.filter((a) => a.n > 1);
    if (twice.length) problems.push(`subtasks accepted more than once: ${twice.map((a) => a.index).join(', ')}`);
    if (accepted.length !== o.subtasks) problems.push(`${accepted.length} of ${o.subtasks} subtasks have an accepted result`);
    return { makespan, problems };
  } finally {
    for (const p of providers) await p.close().catch(() => undefined);
    await node.close();
    await db.drop().catch(() => undefined);
  }
}

async function main() {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-trial-cluster-'));
  const docker = await ensureDocker(path.join(work, 'dockerd.log'), log);
  await ensureAllRuntimes(docker, { workDir: path.join(work, 'runtimes'), log });
  const devPort = o.port + 100;
  if (await portOpen('127.0.0.1', o.port)) throw new Error(`port ${o.port} is taken: the trial starts a Temporal server of its own there (--port)`);
  const dropAfter: Array<() => Promise<void>> = [];
  // Processes this trial started, stopped even when it fails half-way (a server left running took the port of the next run).
  const started: number[] = [];
  try {
    let t = performance.now();
    const dev = await ensureTemporalServer({ port: devPort, logFile: path.join(work, 'dev-server.log'), log });
    const devStart = seconds(t);
    const onDev = await runJob('dev', dev.address, work);
    if (dev.pid) process.kill(dev.pid, 'SIGTERM');

    // The server's databases, empty: its schema tool makes their tables (and drop() removes them after).
    const persistence = await scratchDatabase(o.adminDb, `golemflow_temporal_${process.pid}`);
    const visibility = await scratchDatabase(o.adminDb, `golemflow_temporal_visibility_${process.pid}`);
    dropAfter.push(persistence.drop, visibility.drop);
    const clusterOpts = {
      port: o.port,
      dir: path.join(work, 'temporal-server'),
      postgres: postgresOf(o.adminDb),
      databases: { persistence: new URL(persistence.url).pathname.slice(1), visibility: new URL(visibility.url).pathname.slice(1) },
      log,
    };
    t = performance.now();
    let cluster = await ensureTemporalCluster(clusterOpts);
    if (cluster.pid) started.push(cluster.pid);
    const clusterStart = seconds(t);
    let restartSeconds = 0;
    const onCluster = await runJob('server', cluster.address, work, async () => {
      log("killing Temporal's server mid-job (SIGKILL) and starting it again");
      process.kill(cluster.pid!, 'SIGKILL');
      await waitFor('the server to go', async () => !(await portOpen('127.0.0.1', o.port)), 30_000);
      const r = performance.now();
      cluster = await ensureTemporalCluster(clusterOpts);
      if (cluster.pid) started.push(cluster.pid);
      restartSeconds = seconds(r);
    });
    // The UI an operator opens for this server: it lists the job's workflow, completed.
    const ui = await ensureTemporalUi({ address: cluster.address, uiPort: o.port + 1000, dir: path.join(work, 'temporal-ui'), log });
    if (ui.pid) started.push(ui.pid);
    const listed = (await (await fetch(`${ui.url}/api/v1/namespaces/default/workflows?query=${encodeURIComponent('WorkflowType="jobWorkflow"')}`)).json()) as { executions?: Array<{ status: string }> };
    const uiProblems = listed.executions?.some((e) => e.status === 'WORKFLOW_EXECUTION_STATUS_COMPLETED') ? [] : [`the Temporal UI at ${ui.url} does not list the job's completed workflow: ${JSON.stringify(listed).slice(0, 200)}`];
    onCluster.problems.push(...uiProblems);
    if (ui.pid) process.kill(ui.pid, 'SIGTERM');
    if (cluster.pid) process.kill(cluster.pid, 'SIGTERM');
    await waitFor('the server to stop', async () => !(await portOpen('127.0.0.1', o.port)), 30_000).catch(() => undefined);

    console.log(`\n${o.subtasks} subtasks of sleep 1 on ${o.providers} providers`);
    console.log(`dev server:      started in ${devStart.toFixed(1)} s; job ${onDev.makespan.toFixed(1)} s${onDev.problems.length ? `; PROBLEMS: ${onDev.problems.join('; ')}` : ''}`);
    console.log(`Temporal server: started in ${clusterStart.toFixed(1)} s (schema made or upgraded, namespace made); job ${onCluster.makespan.toFixed(1)} s with a SIGKILL and restart of the server mid-job (back in ${restartSeconds.toFixed(1)} s)${onCluster.problems.length ? `; PROBLEMS: ${onCluster.problems.join('; ')}` : ''}`);
    const failed = onDev.problems.length + onCluster.problems.length;
    console.log(`Temporal UI:     ${ui.url} (ui-server ${TEMPORAL_UI_VERSION}) ${uiProblems.length ? 'did NOT list the job' : "listed the job's completed workflow"}`);
    console.log(failed ? 'FAILED' : 'every check held: the job completed on both, each subtask accepted once, across the restart; the UI showed it');
    process.exitCode = failed ? 1 : 0;
  } finally {
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    for (const drop of dropAfter) await drop().catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`trial failed: ${(e as Error).message}`);
  process.exit(1);
});
