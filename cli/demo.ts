/**
 * npm run demo: sets up everything (Temporal dev server, Docker, runtime images, requestor node,
 * 3 local providers), submits a real range-split job (the primes below 10,000,000 in 20 ranges)
 * through GraphQL, follows its events over SSE, and prints the merged answer, a per-subtask
 * table and the job's address in the Temporal UI. The stack stays up afterwards so the UI can
 * be looked at; `npm run stack -- down` stops it (or pass --stop).
 */
import { Command } from 'commander';
import { gql } from '../infra/graphqlClient.js';
import { subscribe } from '../infra/sse.js';
import { stackDown, stackUp } from '../infra/stack.js';

const program = new Command('demo')
  .option('--limit <n>', 'count primes below this', (v) => Number(v), 10_000_000)
  .option('--subtasks <n>', 'split into this many ranges', (v) => Number(v), 20)
  .option('--providers <n>', 'local providers', (v) => Number(v), 3)
  .option('--stop', 'stop the stack when done')
  .parse();
const o = program.opts<{ limit: number; subtasks: number; providers: number; stop?: boolean }>();

const step = (m: string) => console.log(`· ${m}`);

const JOB = /* GraphQL */ `
  query($id: ID!) {
    job(id: $id) {
      id status error temporalUiUrl startedAt finishedAt
      result { value }
      subtasks { index status params exitCode durationSeconds attemptCount provider { id } attempts { cpuSeconds } agreement { price { start cpuSecond envSecond } } }
    }
  }
`;

async function main() {
  const t0 = Date.now();
  const stack = await stackUp({ providers: o.providers, log: step });
  step(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: GraphQL ${stack.graphqlUrl}, Temporal UI ${stack.temporalUiUrl}`);

  const spec = {
    name: `primes below ${o.limit.toLocaleString('en')}`,
    image: 'golemflow/compute:1',
    command: ['primes', '{start}', '{end}'],
    split: { kind: 'range', start: 0, end: o.limit, step: Math.ceil(o.limit / o.subtasks) },
    merge: { kind: 'sum' },
    resources: { cpus: 1, memory: '256m', timeoutSeconds: 300 },
  };
  const { submitJob } = await gql<{ submitJob: { job: { id: string } } }>(stack.apiUrl, 'mutation($spec: JSON!) { submitJob(spec: $spec) { job { id } } }', { spec });
  const id = submitJob.job.id;
  console.log(`\nsubmitted ${id}: ${spec.name}, ${o.subtasks} subtasks on ${stack.providers.length} providers\n`);

  let done = 0;
  for await (const { jobEvents: e } of subscribe<{ jobEvents: { type: string; subtaskIndex: number | null; providerId: string | null; message: string | null } }>(
    stack.apiUrl,
    'subscription($id: ID!) { jobEvents(id: $id) { type subtaskIndex providerId message } }',
    { id },
  )) {
    if (e.type === 'subtaskFinished') done++;
    if (e.type === 'subtaskScheduled' || e.type === 'agreementProposed') continue;
    const who = e.subtaskIndex != null ? `subtask ${String(e.subtaskIndex).padStart(2)}` : 'job';
    const where = e.providerId ? ` on ${e.providerId}` : '';
    console.log(`  [${String(done).padStart(2)}/${o.subtasks}] ${e.type.padEnd(16)} ${who}${where}${e.message ? `: ${e.message}` : ''}`);
  }

  const { job } = await gql<{ job: any }>(stack.apiUrl, JOB, { id });
  console.log('\n  subtask  range                    provider   exit  wall s  cpu s  attempts  GLM/cpu-s');
  for (const s of job.subtasks) {
    const range = `[${s.params.start}, ${s.params.end})`;
    const price = s.agreement?.price.cpuSecond;
    console.log(
      `  ${String(s.index).padStart(7)}  ${range.padEnd(23)}  ${(s.provider?.id ?? '-').padEnd(9)}  ${String(s.exitCode ?? '-').padStart(4)}  ${(s.durationSeconds ?? 0).toFixed(2).padStart(6)}  ${(s.attempts.at(-1)?.cpuSeconds ?? 0).toFixed(2).padStart(5)}  ${String(s.attemptCount).padStart(8)}  ${price === undefined ? '-' : price.toFixed(5)}`,
    );
  }
  const seconds = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
  console.log(`\njob ${job.status.toLowerCase()} in ${seconds.toFixed(1)} s`);
  if (job.status === 'SUCCEEDED') console.log(`answer: ${job.result.value} primes below ${o.limit.toLocaleString('en')}`);
  else console.log(`error: ${job.error}`);
  const { marketStats } = await gql<{ marketStats: any }>(stack.apiUrl, '{ marketStats { onlineProviders prices { cpuSecond { min p50 max } } } }');
  const q = marketStats.prices.cpuSecond;
  if (q) console.log(`market: ${marketStats.onlineProviders} providers online, GLM per cpu-second min ${q.min} median ${q.p50} max ${q.max}`);
  console.log(`Temporal UI: ${job.temporalUiUrl}`);
  console.log(`GraphiQL:    ${stack.graphqlUrl}`);
  if (o.stop) await stackDown({ log: step });
  else console.log('\nThe stack is still running; stop it with: npm run stack -- down');
  if (job.status !== 'SUCCEEDED') process.exitCode = 1;
}

main().catch((e) => {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exit(1);
});
