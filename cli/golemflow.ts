/**
 * golemflow: the command line for requestors and providers.
 *
 *   golemflow dev [--providers N]                 start the local stack (idempotent), print its addresses
 *   golemflow submit job.yaml [--watch] [--out D]  validate, upload local inputs, submit; --watch follows it and downloads the result
 *   golemflow status | logs | cancel | report <job>
 *   golemflow jobs [--status S] [--first N]        this requestor's jobs, newest first
 *   golemflow quote job.yaml                       what the market expects the job to cost
 *   golemflow providers
 *   golemflow health                               leaks and stalls in the market (exit 1 when it finds any)
 *   golemflow provider start --name … --cpus … --memory …
 *   golemflow provider status <id>                 what a provider ran and earned
 *
 * Read commands take --json (the API's answer as JSON on stdout). Exit codes: 0 done, 1 the job
 * failed or was cancelled (or the market is unhealthy), 2 bad input or an unknown job or
 * provider, 3 the API could not be reached or refused the request. Heavy parts (the stack, the
 * provider node) load only for the commands that need them, so the others start quickly. Every
 * call goes through the SDK (sdk/client.ts), its types generated from the schema.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { FailureType, GolemflowError, InvalidJobSpecError } from '../core/failures.js';
import { formatSize } from '../core/units.js';
import { formatProviderTable, providerTable, timelineSvg, type ReportAttempt, type ReportInvoice } from '../core/report.js';
import { loadConfig } from '../infra/config.js';
import { readNodeKey } from '../sdk/nodeKey.js';
import { Golemflow, GraphQLRequestError, type JobSpecInput, type MarketHealth } from '../sdk/client.js';
import { eachNode } from '../sdk/api.js';
import type * as G from '../sdk/generated.js';
import { loadJobFile } from '../sdk/jobFile.js';
import { planArchive } from '../core/merge.js';

export const EXIT = { ok: 0, jobFailed: 1, badInput: 2, notFound: 2, api: 3 } as const;

/** This package's version, from its package.json (found above this file, compiled or not). */
function packageVersion(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'golemflow') return pkg.version ?? '0.0.0';
    } catch {
      // not here: look one folder up
    }
  }
  return '0.0.0';
}

/** A job file read and checked; a mistake in it is bad input (exit 2), each problem on a line. */
async function jobFileOf(file: string): Promise<Awaited<ReturnType<typeof loadJobFile>>> {
  try {
    return await loadJobFile(file);
  } catch (e) {
    if (e instanceof InvalidJobSpecError) throw new CliError(`${file} is not a valid job:\n${e.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`, EXIT.badInput);
    throw e;
  }
}

/** A read command's --json answer: the API's data, indented, on stdout. */
function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

const PROVIDER_STATUS = /* GraphQL */ `
  query ProviderStatus($id: ID!) {
    provider(id: $id) {
      id online slots reputation uptime openAgreements
      history { accepted wrong failures timeouts }
      earnings { paid owed refused payments }
      offer { preset pricing { start cpuSecond envSecond } paymentAddress }
    }
  }
`;

/** What the command line says before it exits with `exitCode` (EXIT). */
class CliError extends GolemflowError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(exitCode === EXIT.badInput ? FailureType.BadInput : exitCode === EXIT.jobFailed ? FailureType.JobFailed : FailureType.ApiError, message);
  }
}

const ENDED = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/** The health report as a person reads it: the verdict first, then the load per provider. */
export function formatHealth(h: MarketHealth): string[] {
  const out = [h.healthy ? 'healthy: no stale agreements, no overdue subtasks' : `UNHEALTHY: ${h.problems.length} problem${h.problems.length === 1 ? '' : 's'}`];
  for (const p of h.problems) out.push(`  - ${p}`);
  out.push(`slots in use ${h.slotsInUse} of ${h.slotsOffered} offered${h.agreementsQueued ? `; ${h.agreementsQueued} agreement${h.agreementsQueued === 1 ? '' : 's'} waiting for a slot` : ''}`);
  if (h.providers.length) {
    out.push('provider              online  slots  in use  queued  jobs');
    for (const p of h.providers)
      out.push(`${p.providerId.padEnd(20)}  ${(p.online ? 'yes' : 'no').padEnd(6)}  ${String(p.slots).padStart(5)}  ${String(p.inUse).padStart(6)}  ${String(p.queued).padStart(6)}  ${p.jobs.join(', ') || '–'}`);
  }
  if (h.sweeper) out.push(`sweeper: ${h.sweeper.sweeps} sweeps, ended ${h.sweeper.agreementsEnded} agreements and ${h.sweeper.jobsEnded} jobs since the node started`);
  return out;
}

/**
 * The key the calls are made with: GOLEMFLOW_API_KEY (npm run keys -- create NAME), else the
 * key the node on this machine wrote for its own requestor (<GOLEMFLOW_DATA>/requestor.key).
 */
async function apiKey(): Promise<string | undefined> {
  return process.env.GOLEMFLOW_API_KEY || (await readNodeKey(loadConfig().dataDir));
}

/** The SDK's client for the node at `url`; a person is waiting, so an unreachable node is reported after a few seconds. */
async function client(url: string): Promise<Golemflow> {
  return Golemflow.connect({ url, apiKey: await apiKey(), blobRetryMs: 5_000 });
}

/** Runs SDK calls, saying what went wrong as the CLI does: what is not there exits 2 whichever command asked, like bad input. */
async function call<T>(url: string, f: (gf: Golemflow) => Promise<T>): Promise<T> {
  try {
    return await f(await client(url));
  } catch (e) {
    if (e instanceof CliError || e instanceof InvalidJobSpecError) throw e;
    if (e instanceof GraphQLRequestError) throw new CliError(e.message, e.apiCode === 'NOT_FOUND' ? EXIT.notFound : e.apiCode === 'BAD_USER_INPUT' ? EXIT.badInput : EXIT.api);
    if (e instanceof GolemflowError && e.code === FailureType.NotFound) throw new CliError(e.message, EXIT.notFound);
    throw new CliError(`${(e as Error).message} (is the node at ${url} running? start one with: golemflow dev)`, EXIT.api);
  }
}

export const JOB_DETAILS = /* GraphQL */ `
  query JobDetails($id: ID!, $after: String) {
    job(id: $id) {
      id name status error subtaskCount succeededCount failedCount paymentNote temporalUiUrl startedAt finishedAt
      progress { phase running succeeded failed total }
      result { value ref url outputs { path ref url size } }
      allocation { locked released returned }
      subtasks(first: 500, after: $after) {
        nodes { index status provider { id } outputs { path ref url } attempts { number providerId status verdict role startedAt finishedAt wallSeconds } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`;

const JOB_INVOICES = /* GraphQL */ `
  query JobInvoices($id: ID!, $after: String) {
    job(id: $id) {
      invoices(first: 500, after: $after) { nodes { providerId status amount } pageInfo { hasNextPage endCursor } }
    }
  }
`;

type JobDetails = NonNullable<G.JobDetailsQuery['job']>;
type SubtaskView = Omit<JobDetails['subtasks']['nodes'][number], 'attempts'> & { attempts: ReportAttempt[] };
export type JobView = Omit<JobDetails, 'subtasks'> & { subtasks: SubtaskView[]; invoices: ReportInvoice[] };

/** A job with every subtask, attempt and invoice (page by page), as the status, watch and report show it. */
export async function loadJob(url: string, id: string): Promise<JobView> {
  return call(url, async (gf) => {
    const missing = () => new CliError(`job ${id} does not exist`, EXIT.notFound);
    // Set by the first page; `as` keeps TypeScript from narrowing it to null (the closure assigns it).
    let head = null as JobDetails | null;
    const subtasks: SubtaskView[] = [];
    const subtaskPages = eachNode(async (after) => {
      const { job }: G.JobDetailsQuery = await gf.request<G.JobDetailsQuery>(JOB_DETAILS, { id, after });
      if (!job) throw missing();
      head ??= job;
      return job.subtasks;
    });
    // Attempts as the report wants them: which subtask each belongs to.
    for await (const s of subtaskPages) subtasks.push({ ...s, attempts: s.attempts.map((a) => ({ ...a, subtaskIndex: s.index })) });
    const invoices: ReportInvoice[] = [];
    const invoicePages = eachNode(async (after) => {
      const { job }: G.JobInvoicesQuery = await gf.request<G.JobInvoicesQuery>(JOB_INVOICES, { id, after });
      if (!job) throw missing();
      return job.invoices;
    });
    for await (const invoice of invoicePages) invoices.push(invoice);
    return { ...head!, subtasks, invoices };
  });
}

export function attemptsOf(job: JobView): ReportAttempt[] {
  return job.subtasks.flatMap((s) => s.attempts);
}

function costSoFar(job: JobView): number {
  return job.invoices.filter((i) => i.status !== 'REJECTED').reduce((s, i) => s + Number(i.amount), 0);
}

/** Writes the report (table, timeline) and downloads the result and frames under `dir`. */
export async function writeReport(url: string, job: JobView, dir: string): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const table = formatProviderTable(providerTable(attemptsOf(job), job.invoices));
  const lines = [
    `job ${job.id}${job.name ? ` (${job.name})` : ''}: ${job.status.toLowerCase()}${job.error ? `: ${job.error}` : ''}`,
    `subtasks: ${job.succeededCount} succeeded, ${job.failedCount} failed of ${job.subtaskCount}`,
    job.result?.value ? `result: ${job.result.value}` : '',
    job.allocation ? `GLM: ${job.allocation.locked} locked, ${job.allocation.released} paid, ${job.allocation.returned ?? '?'} returned` : 'unpaid job',
    `Temporal UI: ${job.temporalUiUrl}`,
    '',
    table,
    '',
  ].filter((l, i) => l !== '' || i > 3);
  await fs.writeFile(path.join(dir, 'report.txt'), lines.join('\n'));
  written.push(path.join(dir, 'report.txt'));
  await fs.writeFile(path.join(dir, 'timeline.svg'), timelineSvg(`${job.name ?? job.id}: attempts by provider`, attemptsOf(job)));
  written.push(path.join(dir, 'timeline.svg'));
  const gf = await client(url);
  for (const o of job.result?.outputs ?? []) {
    await gf.downloadFile(o.ref, path.join(dir, o.path));
    written.push(path.join(dir, o.path));
  }
  if (!job.result?.outputs.length && job.result?.ref) {
    await gf.downloadFile(job.result.ref, path.join(dir, 'result'));
    written.push(path.join(dir, 'result'));
  }
  // Each subtask's files, laid out as an archive merge lays them out (so none hides another).
  const { entries } = planArchive(job.subtasks.map((s) => ({ index: s.index, outputs: s.outputs.map((o) => ({ ...o, size: 0 })) })));
  if (entries.length) {
    const outputs = path.resolve(dir, 'outputs');
    for (const o of entries) {
      const to = path.resolve(outputs, o.path);
      // A provider names its own output paths: none may land outside the folder.
      if (!to.startsWith(`${outputs}${path.sep}`)) {
        console.error(`skipped an output with an unsafe path: ${JSON.stringify(o.path)}`);
        continue;
      }
      await fs.mkdir(path.dirname(to), { recursive: true });
      await gf.downloadFile(o.ref, to);
    }
    written.push(`${path.join(dir, 'outputs')}/ (${entries.length} files)`);
  }
  return written;
}

/** Follows a job with progress bars until it ends. */
async function watch(url: string, id: string, interactive: boolean): Promise<JobView> {
  const bars = new cliProgress.MultiBar(
    { format: ' {bar} {value}/{total} subtasks | running {running} | failed {failed} | providers {providers} | {cost} GLM | {status}', hideCursor: true, noTTYOutput: !interactive, notTTYSchedule: 5000 },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  try {
    for (;;) {
      const job = await loadJob(url, id);
      const providers = new Set(job.subtasks.flatMap((s) => s.attempts.map((a) => a.providerId))).size;
      const payload = {
        running: job.progress?.running ?? 0,
        failed: job.failedCount,
        providers,
        cost: costSoFar(job).toFixed(6),
        status: (job.progress?.phase ?? job.status).toLowerCase() + (job.paymentNote ? ` (${job.paymentNote})` : ''),
      };
      bar ??= bars.create(job.subtaskCount || 1, 0, payload);
      bar.setTotal(job.subtaskCount || 1);
      bar.update(job.succeededCount, payload);
      if (ENDED.includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    bars.stop();
  }
}

export function golemflowProgram(): Command {
  const program = new Command('golemflow').description('a decentralized compute market: submit jobs, follow them, run providers').version(packageVersion(), '-V, --version').exitOverride();
  const apiOption = (c: Command) => c.option('--api <url>', 'the requestor node API', process.env.GOLEMFLOW_API ?? loadConfig().publicApiUrl);

  program
    .command('dev')
    .description('start the local stack (Temporal, Docker, runtimes, chain, requestor node, providers), reusing what runs')
    .option('--providers <n>', 'local providers', (v) => Number(v), 3)
    .action(async (o: { providers: number }) => {
      const { stackUp } = await import('../infra/stack.js');
      const stack = await stackUp({ providers: o.providers, log: (m) => console.log(`· ${m}`) });
      console.log(`GraphQL:     ${stack.graphqlUrl}`);
      console.log(`Temporal UI: ${stack.temporalUiUrl}`);
      console.log(`chain:       ${stack.chainRpcUrl}`);
      console.log(`providers:   ${stack.providers.join(', ')}`);
    });

  apiOption(
    program
      .command('submit <file>')
      .description('validate a job file (YAML or JSON), upload its local input files, submit it')
      .option('--watch', 'follow the job with progress bars and download its result when it ends')
      .option('--out <dir>', 'where --watch writes the result, the report and the timeline', 'out'),
  ).action(async (file: string, o: { watch?: boolean; out: string; api: string }) => {
    await jobFileOf(file);
    const { job: submitted, files, uploaded, uploadedBytes } = await call(o.api, (gf) => gf.submitFile(file, { onLargeFile: (f, size) => console.log(`uploading ${f} (${formatSize(size)})…`) }));
    const id = submitted.id;
    const already = files - uploaded;
    console.log(`submitted ${id}${files ? ` (${files} files: ${uploaded} uploaded, ${formatSize(uploadedBytes)}${already ? `; ${already} already on the node` : ''})` : ''}`);
    if (!o.watch) return;
    const job = await watch(o.api, id, process.stdout.isTTY === true);
    const written = await writeReport(o.api, job, path.join(o.out, id));
    console.log(`\njob ${job.status.toLowerCase()}${job.error ? `: ${job.error}` : ''}${job.result?.value ? `; result: ${job.result.value}` : ''}`);
    console.log(formatProviderTable(providerTable(attemptsOf(job), job.invoices)));
    console.log(`\nwritten:\n${written.map((w) => `  ${w}`).join('\n')}`);
    if (job.status !== 'SUCCEEDED') throw new CliError(`job ${id} ${job.status.toLowerCase()}`, EXIT.jobFailed);
  });

  apiOption(program.command('status <job>').description("a job's status, progress and result").option('--json', 'the job as JSON')).action(async (id: string, o: { api: string; json?: boolean }) => {
    const job = await loadJob(o.api, id);
    if (o.json) {
      printJson(job);
      if (job.status === 'FAILED' || job.status === 'CANCELLED') process.exitCode = EXIT.jobFailed;
      return;
    }
    console.log(`${job.id}${job.name ? ` (${job.name})` : ''}: ${job.status.toLowerCase()}${job.error ? `: ${job.error}` : ''}`);
    console.log(`subtasks: ${job.succeededCount} succeeded, ${job.progress?.running ?? 0} running, ${job.failedCount} failed of ${job.subtaskCount}`);
    if (job.result?.value) console.log(`result: ${job.result.value}`);
    if (job.allocation) console.log(`GLM: ${job.allocation.locked} locked, ${job.allocation.released} paid, ${job.allocation.returned ?? '–'} returned`);
    if (job.paymentNote) console.log(`payments: ${job.paymentNote}`);
    console.log(`Temporal UI: ${job.temporalUiUrl}`);
    if (job.status === 'FAILED' || job.status === 'CANCELLED') process.exitCode = EXIT.jobFailed;
  });

  apiOption(program.command('logs <job>').description("a job's events, in order").option('--json', 'the events as JSON')).action(async (id: string, o: { api: string; json?: boolean }) => {
    const events = await call(o.api, (gf) => gf.job(id).eventLog());
    if (o.json) return printJson(events);
    for (const e of events)
      console.log(`${e.at}  ${e.type.toLowerCase().replace(/_/g, ' ').padEnd(26)} ${e.subtaskIndex != null ? `subtask ${e.subtaskIndex} ` : ''}${e.providerId ? `on ${e.providerId} ` : ''}${e.message ?? ''}`);
  });

  apiOption(program.command('cancel <job>').description('cancel a job').option('--reason <text>', 'why')).action(async (id: string, o: { api: string; reason?: string }) => {
    const status = await call(o.api, (gf) => gf.job(id).cancel(o.reason));
    console.log(`${id}: ${status.toLowerCase()}`);
  });

  apiOption(program.command('report <job>').description("write a job's report, timeline and result under --out").option('--out <dir>', 'folder', 'out')).action(
    async (id: string, o: { api: string; out: string }) => {
      const job = await loadJob(o.api, id);
      console.log(formatProviderTable(providerTable(attemptsOf(job), job.invoices)));
      for (const w of await writeReport(o.api, job, path.join(o.out, id))) console.log(`  ${w}`);
    },
  );

  apiOption(program.command('jobs').description("this requestor's jobs, newest first").option('--status <s...>', 'only these statuses (queued, running, succeeded, failed, cancelled)').option('--first <n>', 'how many', (v) => Number(v), 20).option('--json', 'as JSON')).action(
    async (o: { api: string; status?: string[]; first: number; json?: boolean }) => {
      if (!(Number.isInteger(o.first) && o.first > 0 && o.first <= 10_000)) throw new CliError('--first takes a whole number from 1 to 10000', EXIT.badInput);
      const statuses = o.status?.map((x) => x.toUpperCase());
      const bad = statuses?.filter((x) => !ENDED.concat(['QUEUED', 'RUNNING']).includes(x));
      if (bad?.length) throw new CliError(`--status ${bad.join(', ')}: not a job status (queued, running, succeeded, failed, cancelled)`, EXIT.badInput);
      const rows = await call(o.api, async (gf) => {
        const out = [];
        for await (const j of gf.jobs(statuses ? { status: statuses as G.JobStatus[] } : undefined, Math.min(o.first, 500))) {
          out.push(j);
          if (out.length === o.first) break;
        }
        return out;
      });
      if (o.json) return printJson(rows);
      console.log('job                        status      done      submitted                 name');
      for (const j of rows)
        console.log(`${j.id.padEnd(26)} ${j.status.toLowerCase().padEnd(10)}  ${`${j.succeededCount}/${j.subtaskCount}`.padEnd(8)}  ${j.createdAt.padEnd(24)}  ${j.name ?? ''}`);
    },
  );

  apiOption(program.command('quote <file>').description('what the market expects a job file to cost (GLM), before it runs').option('--json', 'as JSON')).action(async (file: string, o: { api: string; json?: boolean }) => {
    const loaded = await jobFileOf(file);
    const quoteJob = await call(o.api, (gf) => gf.quote(loaded.spec as JobSpecInput));
    if (o.json) return printJson(quoteJob);
    console.log(`${quoteJob.amount} GLM for ${quoteJob.runs} runs (${quoteJob.perRun} each; ${quoteJob.basis})`);
  });

  apiOption(program.command('providers').description('the providers the market knows').option('--json', 'as JSON')).action(async (o: { api: string; json?: boolean }) => {
    const providers = await call(o.api, async (gf) => {
      const out = [];
      for await (const p of gf.providers()) out.push(p);
      return out;
    });
    if (o.json) return printJson(providers);
    console.log('provider              online  reputation  GLM/cpu-s   GLM paid');
    for (const p of providers)
      console.log(`${p.id.padEnd(20)}  ${(p.online ? 'yes' : 'no').padEnd(6)}  ${p.reputation.toFixed(2).padStart(10)}  ${String(p.offer?.pricing.cpuSecond ?? '–').padStart(9)}  ${p.earnings.paid.padStart(9)}`);
  });

  apiOption(
    program
      .command('health')
      .description("the market's health: slots in use, agreements that outlived their reason, subtasks waiting past their deadline (exit 1 when it finds a problem)")
      .option('--json', 'as JSON'),
  ).action(
    async (o: { api: string; json?: boolean }) => {
      const h = await call(o.api, (gf) => gf.marketHealth());
      if (o.json) printJson(h);
      else for (const line of formatHealth(h)) console.log(line);
      if (!h.healthy) process.exitCode = EXIT.jobFailed;
    },
  );

  const provider = program.command('provider').description('run a provider node, or see what one ran and earned');
  // The provider node (Temporal worker, Docker) loads only when one starts: `provider start
  // --help` and its flags are the node's own (workers/provider.ts).
  provider
    .command('start')
    .description('start a provider node on this machine (--help for its flags)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[flags...]')
    .action(async (flags: string[]) => {
      const { providerCommand } = await import('../workers/provider.js');
      await providerCommand().exitOverride().parseAsync(flags, { from: 'user' });
    });
  apiOption(provider.command('status <id>').description('what a provider ran and earned: attempts by outcome, reputation, GLM paid, owed and refused').option('--json', 'as JSON')).action(
    async (id: string, o: { api: string; json?: boolean }) => {
      const { provider: p } = await call(o.api, (gf) => gf.request<G.ProviderStatusQuery>(PROVIDER_STATUS, { id }));
      if (!p) throw new CliError(`provider ${id} is not known to this market`, EXIT.notFound);
      if (o.json) return printJson(p);
      console.log(`${p.id}: ${p.online ? 'online' : 'offline'}, ${p.slots} slot${p.slots === 1 ? '' : 's'}, ${p.openAgreements.length} open agreement${p.openAgreements.length === 1 ? '' : 's'}`);
      console.log(`reputation ${p.reputation.toFixed(2)} (accepted ${p.history.accepted.toFixed(1)}, wrong ${p.history.wrong.toFixed(1)}, failed ${p.history.failures.toFixed(1)}, silent ${p.history.timeouts.toFixed(1)}; decayed counts), uptime ${(100 * p.uptime).toFixed(0)} %`);
      console.log(`GLM: ${p.earnings.paid} paid in ${p.earnings.payments} payments, ${p.earnings.owed} owed, ${p.earnings.refused} refused`);
      if (p.offer) console.log(`offer: ${p.offer.preset ?? 'custom'}, GLM ${p.offer.pricing.start} start, ${p.offer.pricing.cpuSecond}/cpu-s, ${p.offer.pricing.envSecond}/s; paid to ${p.offer.paymentAddress ?? '–'}`);
    },
  );
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = golemflowProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (e instanceof CliError) {
      console.error(`golemflow: ${e.message}`);
      return e.exitCode;
    }
    if (typeof code === 'string' && code.startsWith('commander.')) return code === 'commander.helpDisplayed' || code === 'commander.version' ? EXIT.ok : EXIT.badInput;
    console.error(`golemflow: ${(e as Error).message}`);
    return EXIT.api;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  runCli(process.argv.slice(2)).then((code) => {
    // `dev` and `provider start` keep running; the others end here.
    if (!['dev', 'provider'].includes(process.argv[2] ?? '')) process.exit(code);
    else if (code !== 0) process.exit(code);
  });
}
