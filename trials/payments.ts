/**
 * npm run trial:payments: 20 seeded fault trials of settlement (test/support/paymentTrial.ts).
 * In each, a paid job of 12 subtasks with redundancy 2 runs on 3 providers while its requestor
 * node (a separate process) is SIGKILLed at random moments and right after it signs a release,
 * then restarted. Prints, per trial and in total: kills, accepted results, payments, payments
 * made twice, payments missed, and the wei by which the ledger and the chain differ.
 *
 *   npm run trial:payments -- [--trials 20] [--seed 1]
 */
import { Command } from 'commander';
import { runPaymentTrial } from '../test/support/paymentTrial.js';
import { benchStack } from '../bench/setup.js';

const o = new Command('trial:payments')
  .option('--trials <n>', 'trials', Number, 20)
  .option('--seed <n>', 'seed of the first trial', Number, 1)
  .option('--port <p>', 'Temporal dev server port for the trials', Number, 27253)
  .option('--anvil-port <p>', 'Anvil port for the trials', Number, 28545)
  .option('--database <url>', 'PostgreSQL admin URL (a database is made per trial)', process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  .parse()
  .opts<{ trials: number; seed: number; port: number; anvilPort: number; database: string }>();

const log = (m: string) => console.log(`· ${m}`);

async function main() {
  const { temporal, anvil } = await benchStack('payment-trials', { temporalPort: o.port, anvilPort: o.anvilPort, log });
  const totals = { kills: 0, accepted: 0, paid: 0, paidTwice: 0, missed: 0, mismatch: 0n, releases: 0, failed: 0 };
  const started = Date.now();
  try {
    console.log('trial  seed  kills  accepted  paid  twice  missed  ledger≠chain wei  releases  job s');
    for (let t = 0; t < o.trials; t++) {
      const seed = o.seed + t;
      const r = await runPaymentTrial(seed, { temporalAddress: temporal.address, adminDatabaseUrl: o.database, chainRpcUrl: anvil.rpcUrl, accountIndex: 1 + (t % 19) });
      totals.kills += r.kills;
      totals.accepted += r.acceptedResults;
      totals.paid += r.paidInvoices;
      totals.paidTwice += r.paidTwice;
      totals.missed += r.missed;
      totals.mismatch += r.ledgerMismatchWei;
      totals.releases += r.releaseTransactions;
      if (r.problems.length) totals.failed++;
      console.log(
        `${String(t + 1).padStart(5)}  ${String(seed).padStart(4)}  ${String(r.kills).padStart(5)}  ${String(r.acceptedResults).padStart(8)}  ${String(r.paidInvoices).padStart(4)}  ${String(r.paidTwice).padStart(5)}  ${String(r.missed).padStart(6)}  ${String(r.ledgerMismatchWei).padStart(16)}  ${String(r.releaseTransactions).padStart(8)}  ${r.jobSeconds.toFixed(1).padStart(5)}${r.shortSubtasks.length ? `  subtasks on fewer than 2 copies: ${r.shortSubtasks.join(', ')}` : ''}${r.problems.length ? `  PROBLEMS: ${r.problems.join('; ')}` : ''}`,
      );
    }
  } finally {
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
    if (anvil.pid) process.kill(anvil.pid, 'SIGTERM');
  }
  console.log(`\n${o.trials} trials in ${((Date.now() - started) / 1000).toFixed(0)} s: ${totals.kills} kills of the requestor node`);
  console.log(`accepted results ${totals.accepted}, paid ${totals.paid}; paid twice ${totals.paidTwice}; missed ${totals.missed}; ledger vs chain ${totals.mismatch} wei apart`);
  console.log(`release transactions ${totals.releases} (${(totals.releases / Math.max(1, totals.paid)).toFixed(3)} per paid result); trials with problems: ${totals.failed}`);
  if (totals.paidTwice || totals.missed || totals.mismatch || totals.failed) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`trial:payments failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
