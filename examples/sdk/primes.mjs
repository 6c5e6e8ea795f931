// A program on the Golemflow SDK: counts the primes below a bound on the market, printing the
// job's events as they come, then the answer. Plain JavaScript on the compiled SDK
// (npm run build), the way another project would use it:
//
//   npm run build && node examples/sdk/primes.mjs [bound]      # GOLEMFLOW_API, GOLEMFLOW_API_KEY
import { Golemflow, JobEndedError } from 'golemflow/sdk';

const bound = Number(process.argv[2] ?? 100_000);
const step = Math.ceil(bound / 4);
const gf = await Golemflow.connect();
const spec = {
  name: 'sdk primes',
  image: 'golemflow/compute:1',
  command: ['primes', '{start}', '{end}'],
  split: { kind: 'range', start: 0, end: bound, step },
  merge: { kind: 'sum' },
};
const quote = await gf.quote(spec);
console.log(`quote: ${quote.amount} GLM for ${quote.runs} runs`);
const job = await gf.submit(spec);
console.log(`submitted ${job.id}`);
for await (const e of job.events()) console.log(`  ${e.type}${e.subtaskIndex === null ? '' : ` #${e.subtaskIndex}`}${e.providerId ? ` on ${e.providerId}` : ''}`);
try {
  const done = await job.result();
  console.log(`primes below ${bound}: ${done.result.value}`);
} catch (e) {
  if (e instanceof JobEndedError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}
