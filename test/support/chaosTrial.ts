/**
 * The chaos soak: one market stack whose every process can die. A Temporal dev server (its state
 * in a file), the requestor node and three providers run as separate processes that a seeded
 * schedule SIGKILLs and restarts while jobs from two requestors run: jobs that succeed, jobs
 * that fail by design (out of memory, a bad exit, no offer that matches), a job cancelled at a
 * random moment, paid and unpaid. After each trial the invariants are checked against the
 * database, the chain and the providers themselves. Used by test/integration/chaos.test.ts (a
 * few trials) and trials/chaos.ts (many).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { freePort, scratchDatabase } from './scratch.js';
import { createPublicClient, http, toHex, type Address } from 'viem';
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';
import { offerMessage, signIdentity } from '../../core/identity.js';
import { issueApiKey } from '../../api/auth.js';
import { OPEN_AGREEMENT_STATES } from '../../core/leases.js';
import { seededRandom } from '../../core/random.js';
import { ANVIL_MNEMONIC } from '../../infra/anvil.js';
import { gql } from '../../infra/graphqlClient.js';
import { portOpen } from '../../infra/processes.js';
import { ensureTemporalCli } from '../../infra/temporalServer.js';
import { openDatabase, type Database } from '../../schema/db.js';
import { agreements, allocations, attempts, chainTxs, deployments, invoices, jobs, providers as providersTable, subtasks } from '../../schema/tables.js';
import { countPrimesBelow } from './primes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const erc20 = [
  { type: 'function', name: 'balanceOf', stateMutability: 'view', inputs: [{ name: 'a', type: 'address' }], outputs: [{ name: '', type: 'uint256' }] },
] as const;

/** The invariants, in the order they are printed. */
export const INVARIANTS = ['jobsEnd', 'noLeakedAgreements', 'slotsFree', 'acceptedOnce', 'paidOnce', 'ledgerEqualsChain', 'rightAnswers', 'expectedOutcomes'] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface ChaosEnv {
  adminDatabaseUrl: string;
  chainRpcUrl: string;
  /** Anvil account paying in this stack (its own nonces). */
  accountIndex: number;
  /** Port of the stack's own Temporal dev server (the UI is off). */
  temporalPort: number;
  log?: (m: string) => void;
}

export interface TrialResult {
  seed: number;
  faults: string[];
  /** Processes that exited without being killed (restarted like a supervisor would). */
  selfExits: string[];
  jobs: Array<{ kind: string; id: string; status: string; seconds: number; error: string | null }>;
  /** Seconds from the last restart until every job had ended and no agreement was open. */
  recoverSeconds: number;
  /** The bound every job had to end within, after the last fault. */
  boundSeconds: number;
  held: Record<Invariant, boolean>;
  problems: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A process of the stack, kept running like a supervisor would (systemd, a container's restart
 * policy): one that exits on its own is started again after a second and noted.
 */
class Supervised {
  private child: ChildProcess | null = null;
  private killing = false;
  private stopped = false;
  readonly selfExits: string[] = [];

  constructor(
    readonly name: string,
    private readonly cmd: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
  ) {}

  start(): void {
    this.killing = false;
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(this.cmd, this.args, { env: this.env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = null;
      if (this.killing || this.stopped) return;
      this.selfExits.push(`${this.name} exited by itself (${signal ?? `code ${code}`})`);
      setTimeout(() => {
        if (!this.stopped && !this.child) this.start();
      }, 1000);
    });
  }

  /** SIGKILL: no goodbye, as when a machine loses power. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.killing = true;
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
    this.child = null;
  }

  get running(): boolean {
    return this.child !== null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const exited = new Promise((r) => child.once('exit', r));
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

export interface ChaosStack {
  apiUrl: string;
  db: Database['db'];
  keys: { alice: string; bob: string };
  providerIds: string[];
  /** A provider whose offer is registered but which never checks in: only demands that allow nothing else wait on it. */
  ghostId: string;
  processes: { temporal: Supervised; requestor: Supervised; providers: Supervised[] };
  env: ChaosEnv;
  close(): Promise<void>;
}

/** Starts the stack's processes and waits until the providers' offers are online. */
export async function startChaosStack(env: ChaosEnv): Promise<ChaosStack> {
  const log = env.log ?? (() => {});
  const id = randomBytes(3).toString('hex');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), `golemflow-chaos-${id}-`));
  const dbName = `golemflow_chaos_${id}`;
  const scratch = await scratchDatabase(env.adminDatabaseUrl, dbName);
  const dbUrl = new URL(scratch.url);
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const temporalAddress = `127.0.0.1:${env.temporalPort}`;
  const cli = await ensureTemporalCli(log);

  const temporal = new Supervised(
    'temporal',
    cli,
    ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(env.temporalPort), '--db-filename', path.join(work, 'temporal.db'), '--log-level', 'error'],
    process.env,
    path.join(work, 'temporal.log'),
  );
  const node = [process.execPath, '--import', 'tsx'];
  const requestor = new Supervised(
    'requestor',
    node[0],
    [...node.slice(1), path.join(root, 'workers/requestor.ts')],
    {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: dbUrl.toString(),
      API_PORT: String(port),
      GOLEMFLOW_DATA: path.join(work, 'requestor'),
      REQUESTOR_TASK_QUEUE: `golemflow.requestor.chaos-${id}`,
      GOLEMFLOW_REQUESTOR_ID: `node-${id}`,
      CHAIN_RPC_URL: env.chainRpcUrl,
      REQUESTOR_PRIVATE_KEY: toHex(mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: env.accountIndex }).getHdKey().privateKey!),
      TEMPORAL_LOG_LEVEL: 'ERROR',
    },
    path.join(work, 'requestor.log'),
  );
  const providerIds = ['c1', 'c2', 'c3'].map((n) => `${n}-${id}`);
  const providers = providerIds.map(
    (name) =>
      new Supervised(
        name,
        node[0],
        [
          ...node.slice(1),
          path.join(root, 'workers/provider.ts'),
          ...['--name', name, '--cpus', '1', '--memory', '512m', '--slots', '1', '--api', apiUrl, '--temporal', temporalAddress],
          ...['--no-build-runtimes', '--no-benchmark', '--work-dir', path.join(work, name)],
          ...['--price-start', '0.01', '--price-cpu-second', '0.001', '--price-env-second', '0.0005'],
        ],
        { ...process.env, TEMPORAL_LOG_LEVEL: 'ERROR' },
        path.join(work, `${name}.log`),
      ),
  );

  temporal.start();
  const until = (what: string, check: () => Promise<boolean>, ms = 90_000) => waitUntil(what, check, ms);
  await until('the Temporal dev server', () => portOpen('127.0.0.1', env.temporalPort));
  requestor.start();
  await until('the requestor node', () => fetch(`${apiUrl}/health`).then((r) => r.ok, () => false));
  const database = await openDatabase({ url: dbUrl.toString() });
  const db = database.db;
  for (const p of providers) p.start();
  await until('the providers', async () => {
    const online = (await gql<{ providers: { nodes: Array<{ id: string }> } }>(apiUrl, '{ providers(first: 500, filter: { onlineOnly: true }) { nodes { id } } }')).providers.nodes;
    return providerIds.every((p) => online.some((o) => o.id === p));
  });
  const keys = { alice: await issueApiKey(db, 'alice'), bob: await issueApiKey(db, 'bob') };
  // The ghost published an offer long ago and was never seen again: a demand that allows only it
  // is accepted (its terms fit) but no offer ever matches while the job runs.
  const ghostId = `ghost-${id}`;
  const ghostOffer = { name: ghostId, cpus: 1, memory: '512m', runtimes: ['docker'], images: ['*'], pricing: { start: 0.01, cpuSecond: 0.001, envSecond: 0.0005 }, limits: { maxConcurrentAgreements: 1 } };
  const signedAt = Date.now();
  const signature = await signIdentity(privateKeyToAccount(generatePrivateKey()), 'Offer', offerMessage(ghostId, ghostOffer, signedAt));
  await gql(apiUrl, 'mutation($input: OfferInput!, $proof: SignatureInput!) { publishOffer(input: $input, proof: $proof) { id } }', { input: ghostOffer, proof: { signedAt, signature } });
  await db.update(providersTable).set({ lastSeenAt: sql`now() - interval '1 hour'` }).where(eq(providersTable.id, ghostId));
  log(`chaos stack up: API ${apiUrl}, Temporal ${temporalAddress}, providers ${providerIds.join(', ')}, logs in ${work}`);

  return {
    apiUrl,
    db,
    keys,
    providerIds,
    ghostId,
    processes: { temporal, requestor, providers },
    env,
    close: async () => {
      for (const p of providers) await p.stop();
      await requestor.stop();
      await temporal.stop();
      await database.close();
      await scratch.drop();
      if (!process.env.GOLEMFLOW_KEEP_CHAOS) await fs.rm(work, { recursive: true, force: true });
    },
  };
}

async function waitUntil(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${Math.round(ms / 1000)} s`);
    await sleep(250);
  }
}

const ENDED = ['succeeded', 'failed', 'cancelled'];
const PRIMES_A = { end: 120_000, step: 20_000 };
const PRIMES_B = { end: 60_000, step: 10_000 };

interface JobPlan {
  kind: string;
  key: 'alice' | 'bob';
  spec: Record<string, unknown>;
  /** The status it must end in (a cancelled job may also have finished first). */
  expect: Array<'succeeded' | 'failed' | 'cancelled'>;
  answer?: string;
  /** Cancel this many ms after submission. */
  cancelAfterMs?: number;
}

function planJobs(rand: () => number, ghostId: string): JobPlan[] {
  const image = 'golemflow/compute:1';
  const sturdy = { maxAttempts: 6, heartbeatTimeoutSeconds: 5 };
  return [
    {
      kind: 'paid primes (r2)',
      key: 'alice',
      spec: { image, command: ['primes', '{start}', '{end}'], split: { kind: 'range', start: 0, ...PRIMES_A }, merge: { kind: 'sum' }, redundancy: 2, maxParallel: 3, budget: { amount: '5' }, retries: sturdy, demand: { estimateSeconds: 1 } },
      expect: ['succeeded'],
      answer: String(countPrimesBelow(PRIMES_A.end)),
    },
    {
      kind: 'unpaid primes',
      key: 'bob',
      spec: { image, command: ['primes', '{start}', '{end}'], split: { kind: 'range', start: 0, ...PRIMES_B }, merge: { kind: 'sum' }, redundancy: 1, maxParallel: 3, retries: sturdy },
      expect: ['succeeded'],
      answer: String(countPrimesBelow(PRIMES_B.end)),
    },
    {
      kind: 'out of memory',
      key: 'bob',
      spec: { image, command: ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}'], split: { kind: 'range', start: 0, end: 2, step: 1 }, redundancy: 1, resources: { memory: '16m' }, retries: { maxAttempts: 2 } },
      expect: ['failed'],
    },
    {
      kind: 'bad exit (paid)',
      key: 'alice',
      spec: { image, command: ['sh', '-c', 'sleep 0.5; exit 3'], split: { kind: 'range', start: 0, end: 4, step: 1 }, redundancy: 1, maxParallel: 4, budget: { amount: '1' }, retries: { maxAttempts: 1 }, demand: { estimateSeconds: 1 } },
      expect: ['failed'],
    },
    {
      kind: 'no offer matches',
      key: 'bob',
      spec: { image, command: ['echo', 'never'], split: { kind: 'range', start: 0, end: 2, step: 1 }, redundancy: 1, demand: { allowedProviders: [ghostId], offerDeadlineSeconds: 5 } },
      expect: ['failed'],
    },
    {
      kind: 'cancelled',
      key: rand() < 0.5 ? 'alice' : 'bob',
      spec: { image, command: ['sleep', '2'], split: { kind: 'range', start: 0, end: 6, step: 1 }, redundancy: 1, maxParallel: 6, retries: sturdy, ...(rand() < 0.5 ? { budget: { amount: '1' }, demand: { estimateSeconds: 2 } } : {}) },
      expect: ['cancelled', 'succeeded'],
      // From the moment it is submitted (placements in flight) to well into its runs.
      cancelAfterMs: Math.floor(rand() * 6000),
    },
  ];
}

type Fault = { at: number; target: 'temporal' | 'requestor' | number; downMs: number };

function planFaults(rand: () => number, providers: number): Fault[] {
  const n = 3 + Math.floor(rand() * 3);
  const faults: Fault[] = [];
  let at = 500;
  for (let i = 0; i < n; i++) {
    at += 1000 + Math.floor(rand() * 5000);
    const r = rand();
    const target = r < 0.2 ? 'temporal' : r < 0.45 ? 'requestor' : Math.floor(rand() * providers);
    faults.push({ at, target, downMs: 300 + Math.floor(rand() * 2700) });
  }
  return faults;
}

/** Retries an API call through the moments the requestor node is down. */
async function retrying<T>(what: string, call: () => Promise<T>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      const msg = (e as Error).message;
      if (!/cannot reach|fetch failed|ECONNREFUSED|socket|UNAVAILABLE|HTTP 5/i.test(msg) || Date.now() > deadline) throw new Error(`${what}: ${msg}`);
      await sleep(300);
    }
  }
}

/** One trial: its jobs, its faults, then the invariants. */
export async function runChaosTrial(stack: ChaosStack, seed: number, opts: { boundSeconds?: number } = {}): Promise<TrialResult> {
  const log = stack.env.log ?? (() => {});
  const rand = seededRandom(seed);
  const db = stack.db;
  const boundSeconds = opts.boundSeconds ?? 240;
  const problems: string[] = [];
  const held = Object.fromEntries(INVARIANTS.map((i) => [i, true])) as Record<Invariant, boolean>;
  const fail = (inv: Invariant, msg: string) => {
    held[inv] = false;
    problems.push(`${inv}: ${msg}`);
  };
  const procs = [stack.processes.temporal, stack.processes.requestor, ...stack.processes.providers];
  const selfExitsBefore = procs.map((p) => p.selfExits.length);

  const plans = planJobs(rand, stack.ghostId);
  const faults = planFaults(rand, stack.providerIds.length);
  const t0 = Date.now();
  const submitted: Array<{ plan: JobPlan; id: string; at: number }> = [];
  for (const plan of plans) {
    const r = await retrying('submit', () =>
      gql<{ submitJob: { job: { id: string } } }>(stack.apiUrl, 'mutation($spec: JSON!) { submitJob(spec: $spec) { job { id } } }', { spec: plan.spec }, { apiKey: stack.keys[plan.key] }),
    );
    submitted.push({ plan, id: r.submitJob.job.id, at: Date.now() });
  }
  const ids = submitted.map((s) => s.id);

  // Cancellations, on their own clock, through whatever is down at the time.
  const cancels = submitted
    .filter((s) => s.plan.cancelAfterMs !== undefined)
    .map(async (s) => {
      await sleep(Math.max(0, s.at + s.plan.cancelAfterMs! - Date.now()));
      await retrying('cancel', () => gql(stack.apiUrl, 'mutation($id: ID!) { cancelJob(id: $id, reason: "chaos") { id } }', { id: s.id }, { apiKey: stack.keys[s.plan.key] })).catch((e: Error) => {
        if (!/already ended/.test(e.message)) problems.push(`cancel of ${s.id} failed: ${e.message}`);
      });
    });

  const faultLog: string[] = [];
  let lastRestart = Date.now();
  for (const f of faults) {
    await sleep(Math.max(0, t0 + f.at - Date.now()));
    const proc = f.target === 'temporal' ? stack.processes.temporal : f.target === 'requestor' ? stack.processes.requestor : stack.processes.providers[f.target];
    await proc.kill();
    faultLog.push(`${((Date.now() - t0) / 1000).toFixed(1)}s kill ${proc.name} for ${(f.downMs / 1000).toFixed(1)}s`);
    await sleep(f.downMs);
    proc.start();
    lastRestart = Date.now();
  }
  await Promise.all(cancels);
  log(`trial ${seed}: ${faultLog.join('; ')}`);

  // Every job ends within the bound.
  const endedAt = new Map<string, number>();
  const deadline = lastRestart + boundSeconds * 1000;
  for (;;) {
    const rows = await db.select({ id: jobs.id, status: jobs.status }).from(jobs).where(inArray(jobs.id, ids));
    for (const r of rows) if (ENDED.includes(r.status) && !endedAt.has(r.id)) endedAt.set(r.id, Date.now());
    if (endedAt.size === ids.length || Date.now() > deadline) break;
    await sleep(250);
  }
  if (endedAt.size < ids.length) fail('jobsEnd', `${ids.length - endedAt.size} jobs had not ended ${boundSeconds} s after the last restart: ${ids.filter((i) => !endedAt.has(i)).join(', ')}`);

  // No agreement outlives its job by more than a sweep: the workflows end their own, the sweeper the rest.
  const openOf = () =>
    db
      .select({ id: agreements.id, state: agreements.state, providerId: agreements.providerId })
      .from(agreements)
      .innerJoin(jobs, eq(jobs.id, agreements.jobId))
      .where(and(inArray(agreements.state, [...OPEN_AGREEMENT_STATES]), inArray(jobs.status, ENDED as never)));
  let open = await openOf();
  const sweepDeadline = Date.now() + 12_000;
  while (open.length && Date.now() < sweepDeadline) {
    await sleep(500);
    open = await openOf();
  }
  if (open.length) fail('noLeakedAgreements', `${open.length} agreements still open after their job ended: ${open.map((a) => `${a.id} (${a.state}, ${a.providerId})`).join(', ')}`);
  const recoverSeconds = (Math.max(lastRestart, ...endedAt.values()) - lastRestart) / 1000 + (open.length ? Infinity : 0);

  // Every provider's slot is free: a one-subtask job pinned to each runs at once.
  const probes = await Promise.all(
    stack.providerIds.map((p) =>
      retrying('probe', () =>
        gql<{ submitJob: { job: { id: string } } }>(
          stack.apiUrl,
          'mutation($spec: JSON!) { submitJob(spec: $spec) { job { id } } }',
          { spec: { image: 'golemflow/compute:1', command: ['echo', p], split: { kind: 'range', start: 0, end: 1, step: 1 }, redundancy: 1, demand: { allowedProviders: [p], offerDeadlineSeconds: 60 } } },
          { apiKey: stack.keys.alice },
        ),
      ).then((r) => ({ provider: p, id: r.submitJob.job.id })),
    ),
  );
  const probeDeadline = Date.now() + 90_000;
  for (const probe of probes) {
    let status = 'running';
    while (!ENDED.includes(status) && Date.now() < probeDeadline) {
      [{ status }] = await db.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, probe.id));
      if (!ENDED.includes(status)) await sleep(250);
    }
    if (status !== 'succeeded') fail('slotsFree', `a job pinned to ${probe.provider} ended ${status} (or not within 90 s)`);
  }

  // Each subtask's result is accepted once: its accepted copies agree and are within its redundancy.
  const acc = await db
    .select({ jobId: attempts.jobId, index: attempts.subtaskIndex, resultKey: attempts.resultKey, n: sql<number>`count(*)::int` })
    .from(attempts)
    .where(and(inArray(attempts.jobId, ids), eq(attempts.verdict, 'accepted')))
    .groupBy(attempts.jobId, attempts.subtaskIndex, attempts.resultKey);
  const perSubtask = new Map<string, { keys: number; n: number }>();
  for (const a of acc) {
    const k = `${a.jobId}/${a.index}`;
    const e = perSubtask.get(k) ?? { keys: 0, n: 0 };
    e.keys++;
    e.n += a.n;
    perSubtask.set(k, e);
  }
  for (const [k, e] of perSubtask) {
    const plan = submitted.find((s) => k.startsWith(`${s.id}/`))!.plan;
    const redundancy = Number(plan.spec.redundancy ?? 2);
    if (e.keys > 1) fail('acceptedOnce', `subtask ${k} accepted ${e.keys} different results`);
    if (e.n > redundancy + 2) fail('acceptedOnce', `subtask ${k} accepted ${e.n} copies (redundancy ${redundancy})`);
  }
  const succeededSubtasks = await db.select({ jobId: subtasks.jobId, index: subtasks.index }).from(subtasks).where(and(inArray(subtasks.jobId, ids), eq(subtasks.status, 'succeeded')));
  for (const s of succeededSubtasks) if (!perSubtask.has(`${s.jobId}/${s.index}`)) fail('acceptedOnce', `subtask ${s.jobId}/${s.index} succeeded with no accepted copy`);

  // GLM: paid once, never for a rejected result; the ledger equals the chain to the wei.
  const inv = await db.select().from(invoices).where(inArray(invoices.jobId, ids));
  const releases = await db.select().from(chainTxs).where(and(inArray(chainTxs.jobId, ids), eq(chainTxs.kind, 'release'), eq(chainTxs.status, 'mined')));
  const released = new Map<string, number>();
  for (const t of releases) for (const pid of t.paymentIds) released.set(pid, (released.get(pid) ?? 0) + 1);
  for (const [pid, n] of released) if (n > 1) fail('paidOnce', `payment ${pid} released in ${n} mined transactions`);
  for (const i of inv.filter((x) => x.status === 'paid')) {
    if (!released.has(i.paymentId)) fail('paidOnce', `invoice ${i.paymentId} is marked paid but no mined release holds it`);
    const [a] = await db.select({ verdict: attempts.verdict }).from(attempts).where(and(eq(attempts.jobId, i.jobId), eq(attempts.subtaskIndex, i.subtaskIndex), eq(attempts.number, i.attempt)));
    if (a?.verdict !== 'accepted') fail('paidOnce', `invoice ${i.paymentId} was paid for an attempt judged ${a?.verdict ?? 'never'}`);
  }
  for (const i of inv.filter((x) => x.status === 'rejected')) if (released.has(i.paymentId)) fail('paidOnce', `rejected invoice ${i.paymentId} was released`);
  for (const s of submitted.filter((x) => x.plan.spec.budget)) {
    const [alloc] = await db.select().from(allocations).where(eq(allocations.jobId, s.id));
    if (!alloc) continue; // ended before it locked its budget
    if (alloc.state !== 'closed') fail('ledgerEqualsChain', `allocation of ${s.id} is ${alloc.state}`);
    else if (BigInt(alloc.releasedWei) + BigInt(alloc.returnedWei ?? '0') !== BigInt(alloc.lockedWei)) fail('ledgerEqualsChain', `allocation of ${s.id}: released + returned != locked`);
  }
  const [{ n: unsent }] = await db.select({ n: sql<number>`count(*)::int` }).from(chainTxs).where(eq(chainTxs.status, 'signed'));
  if (unsent) fail('ledgerEqualsChain', `${unsent} ledger transactions still unsettled`);
  // Every trial pays into the same providers' wallets: the chain holds what all paid invoices say.
  const [token] = await db.select().from(deployments).where(eq(deployments.name, 'GLM'));
  if (token) {
    const pub = createPublicClient({ transport: http(stack.env.chainRpcUrl) });
    const allPaid = await db.select().from(invoices).where(eq(invoices.status, 'paid'));
    for (const pid of stack.providerIds) {
      const [row] = await db.select({ offer: providersTable.offer }).from(providersTable).where(eq(providersTable.id, pid));
      const address = row?.offer?.paymentAddress as Address | undefined;
      if (!address) continue;
      const onChain = await pub.readContract({ address: token.address as Address, abi: erc20, functionName: 'balanceOf', args: [address] });
      const owed = allPaid.filter((r) => r.providerId === pid).reduce((s, r) => s + BigInt(r.amountWei), 0n);
      if (onChain !== owed) fail('ledgerEqualsChain', `${pid}: chain ${onChain} wei, paid invoices ${owed} wei`);
    }
  }

  // Outcomes: the right answers, and every job ending as it was meant to.
  const rows = await db.select().from(jobs).where(inArray(jobs.id, ids));
  const jobResults = submitted.map((s) => {
    const j = rows.find((r) => r.id === s.id)!;
    return { kind: s.plan.kind, id: s.id, status: j.status, seconds: ((endedAt.get(s.id) ?? Date.now()) - s.at) / 1000, error: j.error };
  });
  for (const s of submitted) {
    const j = rows.find((r) => r.id === s.id)!;
    if (!s.plan.expect.includes(j.status as never)) fail('expectedOutcomes', `${s.plan.kind} job ${s.id} ended ${j.status}${j.error ? ` (${j.error})` : ''}, expected ${s.plan.expect.join(' or ')}`);
    if (s.plan.answer !== undefined && j.status === 'succeeded' && j.resultValue !== s.plan.answer) fail('rightAnswers', `${s.plan.kind} job ${s.id} merged ${j.resultValue}, expected ${s.plan.answer}`);
    if (s.plan.answer !== undefined && j.status !== 'succeeded') fail('rightAnswers', `${s.plan.kind} job ${s.id} ended ${j.status}: ${j.error}`);
  }

  const selfExits = procs.flatMap((p, i) => p.selfExits.slice(selfExitsBefore[i]));
  return { seed, faults: faultLog, selfExits, jobs: jobResults, recoverSeconds, boundSeconds, held, problems };
}
