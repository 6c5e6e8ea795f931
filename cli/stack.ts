/**
 * npm run stack -- up [--providers N] [--temporal dev|server] | down | status
 * Starts the whole local stack idempotently and prints its addresses, or stops it.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { stackDown, stackStatus, stackUp } from '../infra/stack.js';

const log = (m: string) => console.log(`· ${m}`);
const count = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 32) throw new InvalidArgumentError('must be a whole number from 0 to 32');
  return n;
};

const program = new Command('stack').description('the local Golemflow stack: Temporal dev server, Docker, requestor node, providers');
program
  .command('up')
  .description('start what is not running, reuse what is')
  .option('--providers <n>', 'local providers to run', count, 3)
  .addOption(new Option('--temporal <mode>', "dev: the Temporal CLI's dev server (SQLite); server: Temporal's own server on PostgreSQL (TEMPORAL_POSTGRES_URL)").choices(['dev', 'server']).default(process.env.GOLEMFLOW_TEMPORAL ?? 'dev'))
  .action(async (o) => {
    const s = await stackUp({ providers: o.providers, temporal: o.temporal, log });
    console.log(`\nGraphQL (GraphiQL):  ${s.graphqlUrl}\nTemporal UI:         ${s.temporalUiUrl}\nTemporal frontend:   ${s.temporalAddress}\nProviders:           ${s.providers.join(', ') || 'none'}\n\nStop it with: npm run stack -- down`);
  });
program
  .command('down')
  .description('stop every process the stack started (dockerd stays)')
  .action(async () => {
    const stopped = await stackDown({ log });
    console.log(stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing was running');
  });
program
  .command('status')
  .description('list the stack’s processes')
  .action(async () => {
    for (const p of await stackStatus()) console.log(`${p.name.padEnd(24)} ${p.pid ? `running (pid ${p.pid})` : 'stopped'}`);
  });

program.parseAsync(process.argv).catch((e) => {
  console.error(`stack: ${(e as Error).message}`);
  process.exit(1);
});
