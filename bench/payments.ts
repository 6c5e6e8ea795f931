/**
 * npm run bench:payments: a paid job of 100 subtasks (a trivial command, redundancy 1) on 4
 * local providers, on the real stack (Temporal dev server, PostgreSQL or PGlite, Docker, Anvil).
 * Prints the release transactions per accepted result (batching: aim 0.1 or fewer), the time to
 * settle the job (from its last accepted result to the last payment, and to the budget's
 * return), and the whole job's time.
 *
 *   npm run bench:payments -- [--subtasks 100] [--providers 4]
 */
import path from 'node:path';
import { Command } from 'commander';
import { and, eq, max } from 'drizzle-orm';
import { loadConfig } from '../infra/config.js';
import { gql } from '../infra/graphqlClient.js';
import { allocations, attempts, chainTxs, invoices } from '../schema/tables.js';
import { startProviderNode, type ProviderNode } from '../workers/provider.js';
import { startRequestorNode } from '../workers/requestor.js';
import { benchStack } from './setup.js';

const o = new Command('bench:payments')
  .option('--subtasks <n>', 'subtasks in the job', Number, 100)
  .option('--providers <n>', 'local providers', Number, 4)
  .option('--port <p>', 'Temporal dev server port', Number, 27273)
  .option('--anvil-port <p>', 'Anvil port', Number, 28555)
  .parse()
  .opts<{ subtasks: number; providers: number; port: number; anvilPort: number }>();

const log = (m: string) => console.log(`· ${m}`);

async function main() {
  const { work, temporal, anvil } = await benchStack('bench-payments', { temporalPort: o.port, anvilPort: o.anvilPort, log });
  const base = loadConfig({});
  const node = await startRequestorNode({
    ...base,
    temporalAddress: temporal.address,
    dataDir: work,
    apiPort: 0,
    requestorTaskQueue: `golemflow.bench-payments-${path.basename(work)}`,
    chain: { ...base.chain, rpcUrl: anvil.rpcUrl },
  });
  // Calls below act as the node's own requestor.
  process.env.GOLEMFLOW_API_KEY = node.apiKey;
  const providers: ProviderNode[] = [];
  try {
    for (let i = 0; i < o.providers; i++)
      providers.push(
        await startProviderNode({
          name: `bench-${i}-${path.basename(work).slice(-6).toLowerCase()}`,
          cpus: 1,
          memory: '512m',
          slots: 2,
          apiUrl: node.apiUrl,
          temporalAddress: temporal.address,
          buildRuntimes: false,
          benchmark: false,
          pricing: { start: 0.001, cpuSecond: 0.0001, envSecond: 0.00005 },
        }),
      );
    const t0 = Date.now();
    const { submitJob } = await gql<{ submitJob: { job: { id: string } } }>(node.apiUrl, 'mutation($spec: JSON!) { submitJob(spec: $spec) { job { id } } }', {
      spec: {
        image: 'golemflow/compute:1',
        command: ['echo', '{start}'],
        split: { kind: 'range', start: 0, end: o.subtasks, step: 1 },
        merge: { kind: 'concat' },
        redundancy: 1,
        maxParallel: 2 * o.providers,
        budget: { amount: '10' },
        demand: { estimateSeconds: 1 },
      },
    });
    const id = submitJob.job.id;
    log(`submitted ${id}: ${o.subtasks} subtasks on ${o.providers} providers`);
    for (;;) {
      const { job } = await gql<{ job: { status: string; succeededCount: number } }>(node.apiUrl, 'query($id: ID!) { job(id: $id) { status succeededCount } }', { id });
      if (!['QUEUED', 'RUNNING'].includes(job.status)) {
        if (job.status !== 'SUCCEEDED') throw new Error(`the job ended ${job.status}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const jobSeconds = (Date.now() - t0) / 1000;
    const db = node.database.db;
    const paid = await db.select().from(invoices).where(and(eq(invoices.jobId, id), eq(invoices.status, 'paid')));
    const releases = await db.select().from(chainTxs).where(and(eq(chainTxs.jobId, id), eq(chainTxs.kind, 'release'), eq(chainTxs.status, 'mined')));
    const [{ lastResult }] = await db.select({ lastResult: max(attempts.finishedAt) }).from(attempts).where(and(eq(attempts.jobId, id), eq(attempts.verdict, 'accepted')));
    const [{ lastPaid }] = await db.select({ lastPaid: max(invoices.paidAt) }).from(invoices).where(eq(invoices.jobId, id));
    const [alloc] = await db.select().from(allocations).where(eq(allocations.jobId, id));
    const all = await db.select().from(chainTxs).where(eq(chainTxs.jobId, id));
    console.log(`\njob of ${o.subtasks} subtasks on ${o.providers} providers: ${jobSeconds.toFixed(1)} s from submission to its end`);
    console.log(`accepted results paid: ${paid.length}; release transactions: ${releases.length}; transactions per accepted result: ${(releases.length / paid.length).toFixed(3)}`);
    console.log(`all transactions of the job (lock, releases, close): ${all.length}`);
    console.log(
      `settlement: last payment ${((lastPaid!.getTime() - lastResult!.getTime()) / 1000).toFixed(2)} s after the last accepted result; budget returned ${((alloc.closedAt!.getTime() - lastResult!.getTime()) / 1000).toFixed(2)} s after it`,
    );
    console.log(`released ${alloc.releasedWei} wei, returned ${alloc.returnedWei} wei of ${alloc.lockedWei}`);
  } finally {
    for (const p of providers) await p.close().catch(() => undefined);
    await node.close();
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
    if (anvil.pid) process.kill(anvil.pid, 'SIGTERM');
  }
}

main().catch((e) => {
  console.error(`bench:payments failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
