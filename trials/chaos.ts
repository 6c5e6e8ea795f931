/**
 * npm run trial:chaos: seeded chaos trials of the whole market (test/support/chaosTrial.ts). One
 * stack (its own Temporal dev server, requestor node and three providers, each a process) runs
 * trial after trial; in each, six jobs from two requestors run while 3-5 seeded faults SIGKILL
 * and restart the providers, the requestor node and the Temporal server. Prints each trial as it
 * ends, then per invariant how many trials held it and the worst time to recover.
 *
 *   npm run trial:chaos -- [--trials 100] [--seed 1]
 */
import { Command } from 'commander';
import { INVARIANTS, runChaosTrial, startChaosStack, type Invariant } from '../test/support/chaosTrial.js';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureAnvil } from '../infra/anvil.js';
import { ensureDocker } from '../infra/docker.js';
import { ensureAllRuntimes } from '../runtimes/build.js';

const o = new Command('trial:chaos')
  .option('--trials <n>', 'trials', Number, 100)
  .option('--seed <n>', 'seed of the first trial', Number, 1)
  .option('--port <p>', 'port of the stack\'s own Temporal dev server (killed and restarted)', Number, 27433)
  .option('--anvil-port <p>', 'Anvil port for the trials', Number, 28546)
  .option('--database <url>', 'PostgreSQL admin URL (a database is made for the stack)', process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  .parse()
  .opts<{ trials: number; seed: number; port: number; anvilPort: number; database: string }>();

const log = (m: string) => console.log(`· ${m}`);

async function main() {
  // The shared parts (Docker, the runtime images, Anvil); the chaos stack starts its own Temporal.
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-chaos-trials-'));
  const docker = await ensureDocker(path.join(work, 'dockerd.log'), log);
  await ensureAllRuntimes(docker, { workDir: path.join(work, 'runtimes'), log });
  const anvil = await ensureAnvil({ port: o.anvilPort, logFile: path.join(work, 'anvil.log'), log });
  const stack = await startChaosStack({ adminDatabaseUrl: o.database, chainRpcUrl: anvil.rpcUrl, accountIndex: 18, temporalPort: o.port, log });
  const held = Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<Invariant, number>;
  let worstRecover = 0;
  let faults = 0;
  let selfExits = 0;
  let trials = 0;
  const started = Date.now();
  try {
    console.log(`trial  seed  faults  ${INVARIANTS.map((i) => i.slice(0, 10).padEnd(10)).join(' ')}  recover s`);
    for (let t = 0; t < o.trials; t++) {
      const seed = o.seed + t;
      const r = await runChaosTrial(stack, seed);
      trials++;
      faults += r.faults.length;
      selfExits += r.selfExits.length;
      worstRecover = Math.max(worstRecover, r.recoverSeconds);
      for (const i of INVARIANTS) if (r.held[i]) held[i]++;
      console.log(
        `${String(t + 1).padStart(5)}  ${String(seed).padStart(4)}  ${String(r.faults.length).padStart(6)}  ${INVARIANTS.map((i) => (r.held[i] ? 'held' : 'BROKEN').padEnd(10)).join(' ')}  ${r.recoverSeconds.toFixed(1).padStart(9)}` +
          `  [${r.faults.join('; ')}]${r.selfExits.length ? `  self-exits: ${r.selfExits.join(', ')}` : ''}${r.problems.length ? `\n       PROBLEMS: ${r.problems.join('\n                 ')}` : ''}`,
      );
    }
  } finally {
    await stack.close();
    if (anvil.pid) process.kill(anvil.pid, 'SIGTERM');
  }
  console.log(`\n${trials} trials in ${((Date.now() - started) / 1000).toFixed(0)} s, ${faults} faults (SIGKILL and restart), ${selfExits} processes exited by themselves`);
  for (const i of INVARIANTS) console.log(`${i.padEnd(20)} held in ${held[i]}/${trials} trials`);
  console.log(`worst time to recover (last restart to every job ended, no agreement open): ${worstRecover.toFixed(1)} s; bound ${240} s`);
  if (INVARIANTS.some((i) => held[i] < trials)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`trial:chaos failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
