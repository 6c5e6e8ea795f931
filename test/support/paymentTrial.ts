/**
 * One fault trial of settlement: a paid job runs while its requestor node, a separate process,
 * is killed (SIGKILL) at seeded random moments and once right after it signs a release, and
 * restarted each time. Afterwards the ledger, the invoices and the chain must agree: every
 * accepted result paid exactly once, nothing paid twice, the rest of the budget returned.
 * Used by test/integration/paymentFaults.test.ts (a few trials) and trials/payments.ts (20).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, eq, sql } from 'drizzle-orm';
import { freePort, scratchDatabase } from './scratch.js';
import { createPublicClient, http, toHex, type Address } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { seededRandom } from '../../core/random.js';
import { ANVIL_MNEMONIC } from '../../infra/anvil.js';
import { gql } from '../../infra/graphqlClient.js';
import { readNodeKey } from '../../api/auth.js';
import { openDatabase } from '../../schema/db.js';
import { agreements, allocations, attempts, chainTxs, deployments, invoices, jobEvents, jobs, subtasks } from '../../schema/tables.js';
import { startProviderNode, type ProviderNode } from '../../workers/provider.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const erc20 = [
  { type: 'function', name: 'balanceOf', stateMutability: 'view', inputs: [{ name: 'a', type: 'address' }], outputs: [{ name: '', type: 'uint256' }] },
] as const;

export interface TrialEnv {
  temporalAddress: string;
  adminDatabaseUrl: string;
  chainRpcUrl: string;
  /** Anvil account paying in this trial (distinct per trial: its own nonces). */
  accountIndex: number;
  log?: (m: string) => void;
}

export interface TrialResult {
  seed: number;
  kills: number;
  acceptedResults: number;
  paidInvoices: number;
  /** Payment ids released in more than one mined transaction (must be 0). */
  paidTwice: number;
  /** Accepted results without a payment (must be 0). */
  missed: number;
  /** Subtasks accepted on fewer agreeing copies than the redundancy asked (for investigation). */
  shortSubtasks: number[];
  /** Wei differences between what the ledger says each provider got and what the chain holds (must be 0). */
  ledgerMismatchWei: bigint;
  releaseTransactions: number;
  jobSeconds: number;
  problems: string[];
}

export async function runPaymentTrial(seed: number, env: TrialEnv): Promise<TrialResult> {
  const log = env.log ?? (() => {});
  const rand = seededRandom(seed);
  const id = randomBytes(3).toString('hex');
  const dbName = `golemflow_trial_${id}`;
  const scratch = await scratchDatabase(env.adminDatabaseUrl, dbName);
  const dbUrl = new URL(scratch.url);
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const dataDir = path.join(os.tmpdir(), `golemflow-trial-${id}`);
  const privateKey = toHex(mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: env.accountIndex }).getHdKey().privateKey!);
  const childEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: env.temporalAddress,
    DATABASE_URL: dbUrl.toString(),
    API_PORT: String(port),
    GOLEMFLOW_DATA: dataDir,
    REQUESTOR_TASK_QUEUE: `golemflow.requestor.trial-${id}`,
    GOLEMFLOW_REQUESTOR_ID: `requestor-trial-${id}`,
    CHAIN_RPC_URL: env.chainRpcUrl,
    REQUESTOR_PRIVATE_KEY: privateKey,
    TEMPORAL_LOG_LEVEL: 'ERROR',
  };
  let child: ChildProcess | undefined;
  // Every run of the requestor appends its log here, so a trial that hangs can be read afterwards.
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dataDir, 'requestor.log');
  const startRequestor = async () => {
    const out = fs.openSync(logFile, 'a');
    child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'workers/requestor.ts')], { env: childEnv, stdio: ['ignore', out, out], cwd: root });
    fs.closeSync(out);
    const deadline = Date.now() + 90_000;
    while (!(await fetch(`${apiUrl}/health`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error('the requestor process did not come up in 90 s');
      if (child.exitCode !== null) throw new Error(`the requestor process exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const kill = async () => {
    child?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  };

  const providers: ProviderNode[] = [];
  const database = await openDatabase({ url: dbUrl.toString(), dataDir });
  const db = database.db;
  const problems: string[] = [];
  let kills = 0;
  try {
    await startRequestor();
    for (const n of ['p1', 'p2', 'p3'])
      providers.push(
        await startProviderNode({
          name: `${n}-${id}`,
          cpus: 1,
          memory: '512m',
          apiUrl,
          temporalAddress: env.temporalAddress,
          buildRuntimes: false,
          benchmark: false,
          checkInIntervalMs: 1000,
          pricing: { start: 0.01, cpuSecond: 0.001, envSecond: 0.0005 },
        }),
      );
    const t0 = Date.now();
    // The node wrote its own requestor's key to its data folder before its API answered.
    const apiKey = await readNodeKey(dataDir);
    const { submitJob } = await gql<{ submitJob: { job: { id: string } } }>(apiUrl, 'mutation($spec: JSON!) { submitJob(spec: $spec) { job { id } } }', {
      spec: {
        image: 'golemflow/compute:1',
        command: ['primes', '{start}', '{end}'],
        split: { kind: 'range', start: 0, end: 240_000, step: 20_000 },
        merge: { kind: 'sum' },
        redundancy: 2,
        maxParallel: 3,
        budget: { amount: '5' },
        demand: { estimateSeconds: 1 },
      },
    }, { apiKey });
    const jobId = submitJob.job.id;
    const ended = async () => {
      const [j] = await db.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, jobId));
      return ['succeeded', 'failed', 'cancelled'].includes(j?.status ?? '');
    };

    // A kill at a random moment, then one right after a release is signed (before its
    // invoices are marked paid), then perhaps another at random: each followed by a restart.
    const plan: Array<'random' | 'afterSigning'> = ['random', 'afterSigning', ...(rand() < 0.5 ? (['random'] as const) : [])];
    for (const kind of plan) {
      if (await ended()) break;
      if (kind === 'random') {
        // A random moment, but while work remains: by the time half the results are accepted at
        // the latest (a fast market could otherwise finish the job before any kill).
        const wait = 500 + rand() * 6000;
        const until = Date.now() + wait;
        const halfAccepted = async () => (await db.select({ n: sql<number>`count(*)::int` }).from(attempts).where(and(eq(attempts.jobId, jobId), eq(attempts.verdict, 'accepted'))))[0].n >= 12;
        while (Date.now() < until && !(await ended()) && !(await halfAccepted())) await new Promise((r) => setTimeout(r, 50));
      } else {
        const seen = new Set((await db.select({ hash: chainTxs.hash }).from(chainTxs).where(eq(chainTxs.kind, 'release'))).map((r) => r.hash));
        const until = Date.now() + 60_000;
        for (;;) {
          const rows = await db.select({ hash: chainTxs.hash }).from(chainTxs).where(eq(chainTxs.kind, 'release'));
          if (rows.some((r) => !seen.has(r.hash)) || Date.now() > until || (await ended())) break;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      if (await ended()) break;
      await kill();
      kills++;
      log(`trial ${seed}: killed the requestor (${kind}) after ${((Date.now() - t0) / 1000).toFixed(1)} s; restarting`);
      await new Promise((r) => setTimeout(r, 200 + rand() * 800));
      await startRequestor();
    }
    const deadline = Date.now() + 240_000;
    while (!(await ended())) {
      if (Date.now() > deadline) throw new Error(`job ${jobId} did not end within 4 minutes\n${await stateOf(db, jobId, logFile)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const jobSeconds = (Date.now() - t0) / 1000;
    const [job] = await db.select().from(jobs).where(eq(jobs.id, jobId));
    if (job.status !== 'succeeded') problems.push(`job ${job.status}: ${job.error}`);

    // Accepted results (copies, by provider) against invoices, ledger and chain.
    const accepted = await db
      .select({ index: attempts.subtaskIndex, providerId: attempts.providerId })
      .from(attempts)
      .where(and(eq(attempts.jobId, jobId), eq(attempts.verdict, 'accepted')));
    const rows = await db.select().from(invoices).where(eq(invoices.jobId, jobId));
    const paid = rows.filter((r) => r.status === 'paid');
    const perSubtask = new Map<number, number>();
    for (const a of accepted) perSubtask.set(a.index, (perSubtask.get(a.index) ?? 0) + 1);
    const shortSubtasks = Array.from({ length: 12 }, (_, i) => i).filter((i) => (perSubtask.get(i) ?? 0) < 2);
    const missed = accepted.filter((a) => !paid.some((p) => p.subtaskIndex === a.index && p.providerId === a.providerId)).length;
    const releases = await db
      .select()
      .from(chainTxs)
      .where(and(eq(chainTxs.jobId, jobId), eq(chainTxs.kind, 'release'), eq(chainTxs.status, 'mined')));
    const count = new Map<string, number>();
    for (const t of releases) for (const pid of t.paymentIds) count.set(pid, (count.get(pid) ?? 0) + 1);
    const paidTwice = [...count.values()].filter((n) => n > 1).length;
    for (const p of paid) if (!count.has(p.paymentId)) problems.push(`invoice ${p.paymentId} is marked paid but no mined release holds it`);
    // The chain: each provider's balance equals its paid invoices (fresh wallets: they started at 0).
    const [token] = await db.select().from(deployments).where(and(eq(deployments.name, 'GLM')));
    const pub = createPublicClient({ transport: http(env.chainRpcUrl) });
    let ledgerMismatchWei = 0n;
    for (const p of providers) {
      const onChain = await pub.readContract({ address: token.address as Address, abi: erc20, functionName: 'balanceOf', args: [p.offer.paymentAddress as Address] });
      const owed = paid.filter((r) => r.providerId === p.id).reduce((s, r) => s + BigInt(r.amountWei), 0n);
      const diff = onChain > owed ? onChain - owed : owed - onChain;
      ledgerMismatchWei += diff;
      if (diff) problems.push(`${p.id}: chain ${onChain} wei, invoices ${owed} wei`);
    }
    const [alloc] = await db.select().from(allocations).where(eq(allocations.jobId, jobId));
    if (alloc?.state !== 'closed') problems.push(`allocation ${alloc?.state ?? 'missing'}`);
    else if (BigInt(alloc.releasedWei) + BigInt(alloc.returnedWei ?? '0') !== BigInt(alloc.lockedWei)) problems.push('released + returned != locked');
    const [{ n: unsent }] = await db.select({ n: sql<number>`count(*)::int` }).from(chainTxs).where(eq(chainTxs.status, 'signed'));
    if (unsent) problems.push(`${unsent} ledger transactions still unsettled`);
    return {
      seed,
      kills,
      acceptedResults: accepted.length,
      paidInvoices: paid.length,
      paidTwice,
      missed,
      shortSubtasks,
      ledgerMismatchWei,
      releaseTransactions: releases.length,
      jobSeconds,
      problems,
    };
  } finally {
    for (const p of providers) await p.close().catch(() => undefined);
    child?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    child?.kill('SIGKILL');
    await database.close();
    await scratch.drop();
  }
}

/** What a stuck trial left behind: enough to tell where the job waits without rerunning it. */
async function stateOf(db: Awaited<ReturnType<typeof openDatabase>>['db'], jobId: string, logFile: string): Promise<string> {
  const count = async (q: Promise<Array<{ k: string | null; n: number }>>) => (await q).map((r) => `${r.k}=${r.n}`).join(' ');
  const n = sql<number>`count(*)::int`;
  const lines = [
    `subtasks: ${await count(db.select({ k: subtasks.status, n }).from(subtasks).where(eq(subtasks.jobId, jobId)).groupBy(subtasks.status))}`,
    `attempts: ${await count(db.select({ k: attempts.verdict, n }).from(attempts).where(eq(attempts.jobId, jobId)).groupBy(attempts.verdict))}`,
    `agreements: ${await count(db.select({ k: agreements.state, n }).from(agreements).where(eq(agreements.jobId, jobId)).groupBy(agreements.state))}`,
    `invoices: ${await count(db.select({ k: invoices.status, n }).from(invoices).where(eq(invoices.jobId, jobId)).groupBy(invoices.status))}`,
    `chain txs: ${await count(db.select({ k: sql<string>`${chainTxs.kind} || '/' || ${chainTxs.status}`, n }).from(chainTxs).where(eq(chainTxs.jobId, jobId)).groupBy(chainTxs.kind, chainTxs.status))}`,
    'last events:',
    ...(await db.select().from(jobEvents).where(eq(jobEvents.jobId, jobId)).orderBy(sql`${jobEvents.seq} desc`).limit(12)).reverse().map((e) => `  ${JSON.stringify(e).slice(0, 300)}`),
    `requestor log (${logFile}), last lines:`,
    ...fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-25).map((l) => `  ${l.slice(0, 400)}`),
  ];
  return lines.join('\n');
}
