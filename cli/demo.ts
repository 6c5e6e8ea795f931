/**
 * npm run demo: sets up everything (Temporal dev server, Docker, runtime images, a local Anvil
 * chain, the requestor node, 3 honest local providers and 1 dishonest one, clearly named so),
 * renders the animation in examples/animation (24 POV-Ray frames, each subtask on 2 providers,
 * compared pixel by pixel), pays the providers in GLM from a budget locked in the escrow, merges
 * the frames into a video, and writes the video, a GIF, the frames, the report and the timeline
 * picture under ./out/<job id>/, printing where they are.
 *
 * npm run demo -- --job examples/thumbnails/job.yaml: any job file on the same stack (here a data
 * batch: a thumbnail per photo, collected into outputs.tar.gz), with the same report.
 *
 * npm run demo -- --primes: the range-split computation instead (the primes below 10,000,000 in
 * 20 ranges, redundancy 2, paid in GLM), with a per-subtask table.
 *
 * The stack stays up afterwards so the UIs can be looked at; `npm run stack -- down` stops it
 * (or pass --stop). Every call goes through the SDK (sdk/client.ts), as a program's would.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { formatProviderTable, providerTable } from '../core/report.js';
import { REPUTATION_FLOOR } from '../core/reputation.js';
import { attemptsOf, loadJob, writeReport } from './golemflow.js';
import { Golemflow, type JobEvent, type JobSpecInput } from '../sdk/client.js';
import type * as G from '../sdk/generated.js';
import { loadJobFile } from '../sdk/jobFile.js';
import { stackDown, stackUp } from '../infra/stack.js';

const DEFAULT_JOB = 'examples/animation/job.yaml';

const program = new Command('demo')
  .option('--limit <n>', 'count primes below this', (v) => Number(v), 10_000_000)
  .option('--subtasks <n>', 'split into this many ranges', (v) => Number(v), 20)
  .option('--providers <n>', 'local providers', (v) => Number(v), 3)
  .option('--budget <glm>', 'GLM locked for the job and paid to providers for accepted results', '10')
  .option('--job <file>', 'the job file to run', DEFAULT_JOB)
  .option('--primes', 'run the range-split computation instead of a job file')
  .option('--out <dir>', 'where the demo writes the result, report and timeline', 'out')
  .option('--stop', 'stop the stack when done')
  .parse();
const o = program.opts<{ limit: number; subtasks: number; providers: number; budget: string; job: string; primes?: boolean; out: string; stop?: boolean }>();
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const step = (m: string) => console.log(`· ${m}`);

const PRIMES_JOB = /* GraphQL */ `
  query DemoPrimesJob($id: ID!) {
    job(id: $id) {
      id status error temporalUiUrl startedAt finishedAt
      result { value }
      subtasks(first: 500) { nodes { index status params exitCode durationSeconds attemptCount provider { id } attempts { cpuSeconds } agreement { price { start cpuSecond envSecond } } } }
    }
  }
`;
const DISHONEST = /* GraphQL */ `query DemoDishonest { provider(id: "dishonest-1") { reputation history { wrong } } }`;
const MARKET_PRICES = /* GraphQL */ `query DemoMarketPrices { marketStats { onlineProviders prices { cpuSecond { min p50 max } } } }`;
const PAYMENTS = /* GraphQL */ `
  query DemoPayments($id: ID!) {
    job(id: $id) { allocation { locked released returned lockTx closeTx } invoices(first: 500) { nodes { providerId status amount txHash } } }
    requestorBalance { account glm }
  }
`;

/** A line per event, with how many subtasks have finished. */
function eventLine(e: JobEvent, done: number, total: number): string {
  const who = e.subtaskIndex != null ? `subtask ${String(e.subtaskIndex).padStart(2)}` : 'job';
  const where = e.providerId ? ` on ${e.providerId}` : '';
  return `  [${String(done).padStart(2)}/${total}] ${e.type.toLowerCase().replace(/_/g, ' ').padEnd(26)} ${who}${where}${e.message ? `: ${e.message}` : ''}`;
}

/** A job file (by default the render of examples/animation) on 3 honest providers and 1 dishonest one. */
async function jobFileDemo(file: string) {
  const t0 = Date.now();
  const stack = await stackUp({ providers: 3, dishonest: 1, log: step });
  // Every call below is made as the node's own requestor, with the key the node wrote.
  process.env.GOLEMFLOW_API_KEY ||= stack.apiKey;
  step(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: GraphQL ${stack.graphqlUrl}, Temporal UI ${stack.temporalUiUrl}`);
  step('dishonest-1 is a provider that returns wrong results ON PURPOSE (a test mode): watch verification reject them');
  const gf = await Golemflow.connect({ url: stack.apiUrl, apiKey: process.env.GOLEMFLOW_API_KEY });
  const { spec } = await loadJobFile(file);
  const submittedAt = Date.now();
  const { job: submitted } = await gf.submitFile(file);
  const id = submitted.id;
  const total = (await submitted.status()).subtaskCount;
  const budget = spec.budget ? `, budget ${spec.budget.amount} GLM` : ', unpaid';
  console.log(`\nsubmitted ${id}: ${spec.name ?? path.basename(file)}, ${total} subtasks, each on ${spec.redundancy} providers${budget}\n`);
  let done = 0;
  const shown = new Set<JobEvent['type']>(['AGREEMENT_APPROVED', 'RESULT_REJECTED', 'SUBTASK_FINISHED', 'SUBTASK_FAILED', 'ATTEMPT_FAILED', 'BUDGET_LOCKED', 'PAYMENTS_SENT', 'BUDGET_RETURNED', 'PAYMENT_WAITING', 'JOB_SUCCEEDED', 'JOB_FAILED', 'JOB_CANCELLED']);
  for await (const e of submitted.events()) {
    if (e.type === 'SUBTASK_FINISHED') done++;
    if (shown.has(e.type)) console.log(eventLine(e, done, total));
  }
  const job = await loadJob(stack.apiUrl, id);
  const folder = path.join(o.out, id);
  const written = await writeReport(stack.apiUrl, job, folder);
  await fs.rm(path.join(o.out, 'latest'), { force: true, recursive: true });
  await fs.symlink(id, path.join(o.out, 'latest'));
  // The job's own time, from its submission: the stack's start is reported above.
  console.log(`\njob ${job.status.toLowerCase()} in ${((Date.now() - submittedAt) / 1000).toFixed(1)} s${job.result?.value ? `: ${job.result.value}` : ''}${job.error ? `: ${job.error}` : ''}`);
  console.log(`\n${formatProviderTable(providerTable(attemptsOf(job), job.invoices))}`);
  // The market remembers: after earlier runs caught it, the liar is below the reputation floor.
  if (!attemptsOf(job).some((a) => a.providerId === 'dishonest-1')) {
    const { provider } = await gf.request<G.DemoDishonestQuery>(DISHONEST);
    if (provider)
      console.log(
        `\ndishonest-1 got no work: earlier runs caught ${provider.history.wrong.toFixed(1)} wrong results (weighted by age), its reputation ${provider.reputation.toFixed(2)} is below the floor ${REPUTATION_FLOOR}, so the market leaves it out (to start afresh: npm run stack -- down && rm -rf .data)`,
      );
  }
  if (job.allocation) console.log(`\nGLM: ${job.allocation.locked} locked in the escrow, ${job.allocation.released} paid to providers, ${job.allocation.returned ?? '?'} returned to the requestor`);
  console.log(`\nwritten under ${path.resolve(folder)} (also ${path.resolve(o.out, 'latest')}):`);
  for (const w of written) {
    const [where, ...rest] = w.split(' ');
    console.log(`  ${path.relative(process.cwd(), where)}${where.endsWith('/') ? '/' : ''}${rest.length ? ` ${rest.join(' ')}` : ''}`);
  }
  console.log(`Temporal UI: ${job.temporalUiUrl}`);
  console.log(`GraphiQL:    ${stack.graphqlUrl}`);
  if (o.stop) await stackDown({ log: step });
  else console.log('\nThe stack is still running; stop it with: npm run stack -- down');
  if (job.status !== 'SUCCEEDED') process.exitCode = 1;
}

/** The range-split demo: the primes below --limit. */
async function primesDemo() {
  const t0 = Date.now();
  const stack = await stackUp({ providers: o.providers, log: step });
  process.env.GOLEMFLOW_API_KEY ||= stack.apiKey;
  step(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: GraphQL ${stack.graphqlUrl}, Temporal UI ${stack.temporalUiUrl}`);
  const gf = await Golemflow.connect({ url: stack.apiUrl, apiKey: process.env.GOLEMFLOW_API_KEY });

  const spec: JobSpecInput = {
    name: `primes below ${o.limit.toLocaleString('en')}`,
    image: 'golemflow/compute:1',
    command: ['primes', '{start}', '{end}'],
    split: { kind: 'range', start: 0, end: o.limit, step: Math.ceil(o.limit / o.subtasks) },
    merge: { kind: 'sum' },
    resources: { cpus: 1, memory: '256m', timeoutSeconds: 300 },
    redundancy: 2,
    budget: { amount: o.budget },
    demand: { estimateSeconds: 5 },
  };
  const submitted = await gf.submit(spec);
  const id = submitted.id;
  console.log(`\nsubmitted ${id}: ${spec.name}, ${o.subtasks} subtasks on ${stack.providers.length} providers\n`);

  let done = 0;
  for await (const e of submitted.events()) {
    if (e.type === 'SUBTASK_FINISHED') done++;
    if (e.type !== 'SUBTASK_SCHEDULED' && e.type !== 'AGREEMENT_PROPOSED') console.log(eventLine(e, done, o.subtasks));
  }

  const { job } = await gf.request<G.DemoPrimesJobQuery>(PRIMES_JOB, { id });
  if (!job) throw new Error(`job ${id} vanished`);
  console.log('\n  subtask  range                    provider   exit  wall s  cpu s  attempts  GLM/cpu-s');
  for (const s of job.subtasks.nodes) {
    const params = s.params as { start: number; end: number };
    const range = `[${params.start}, ${params.end})`;
    const price = s.agreement?.price.cpuSecond;
    console.log(
      `  ${String(s.index).padStart(7)}  ${range.padEnd(23)}  ${(s.provider?.id ?? '-').padEnd(9)}  ${String(s.exitCode ?? '-').padStart(4)}  ${(s.durationSeconds ?? 0).toFixed(2).padStart(6)}  ${(s.attempts.at(-1)?.cpuSeconds ?? 0).toFixed(2).padStart(5)}  ${String(s.attemptCount).padStart(8)}  ${price ?? '-'}`,
    );
  }
  const seconds = (Date.parse(job.finishedAt ?? '') - Date.parse(job.startedAt ?? '')) / 1000;
  console.log(`\njob ${job.status.toLowerCase()} in ${seconds.toFixed(1)} s`);
  if (job.status === 'SUCCEEDED') console.log(`answer: ${job.result?.value} primes below ${o.limit.toLocaleString('en')}`);
  else console.log(`error: ${job.error}`);
  const { marketStats } = await gf.request<G.DemoMarketPricesQuery>(MARKET_PRICES);
  const q = marketStats.prices.cpuSecond;
  if (q) console.log(`market: ${marketStats.onlineProviders} providers online, GLM per cpu-second min ${q.min} median ${q.p50} max ${q.max}`);
  const pay = await gf.request<G.DemoPaymentsQuery>(PAYMENTS, { id });
  const alloc = pay.job?.allocation;
  const invoices = pay.job?.invoices.nodes ?? [];
  if (alloc) {
    console.log(`
payments (GLM on the local chain, ${stack.chainRpcUrl}):`);
    const by = new Map<string, { paid: number; refused: number; n: number; txs: Set<string> }>();
    for (const i of invoices) {
      const b = by.get(i.providerId) ?? { paid: 0, refused: 0, n: 0, txs: new Set<string>() };
      if (i.status === 'PAID') {
        b.paid += Number(i.amount);
        b.n++;
        if (i.txHash) b.txs.add(i.txHash);
      } else if (i.status === 'REJECTED') b.refused += Number(i.amount);
      by.set(i.providerId, b);
    }
    console.log('  provider   results paid  GLM paid    GLM refused  transactions');
    for (const [p, b] of [...by].sort())
      console.log(`  ${p.padEnd(9)}  ${String(b.n).padStart(12)}  ${b.paid.toFixed(6).padStart(9)}  ${b.refused.toFixed(6).padStart(11)}  ${b.txs.size}`);
    const txs = new Set(invoices.map((i) => i.txHash).filter(Boolean));
    console.log(`  budget ${alloc.locked} GLM locked (tx ${alloc.lockTx}), ${alloc.released} released in ${txs.size} transactions, ${alloc.returned ?? '?'} returned (tx ${alloc.closeTx})`);
    console.log(`  requestor ${pay.requestorBalance.account}: ${pay.requestorBalance.glm} GLM left`);
  }
  console.log(`Temporal UI: ${job.temporalUiUrl}`);
  console.log(`GraphiQL:    ${stack.graphqlUrl}`);
  if (o.stop) await stackDown({ log: step });
  else console.log('\nThe stack is still running; stop it with: npm run stack -- down');
  if (job.status !== 'SUCCEEDED') process.exitCode = 1;
}

// npm runs scripts in the project's folder; a relative --job is taken from where the user typed it.
(o.primes ? primesDemo() : jobFileDemo(path.resolve(o.job === DEFAULT_JOB ? root : (process.env.INIT_CWD ?? process.cwd()), o.job))).catch((e) => {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exit(1);
});
