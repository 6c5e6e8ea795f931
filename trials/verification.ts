/**
 * npm run trial:verification: 100 seeded trials of the real stack (Temporal, Docker, the
 * requestor node and four providers in this process), each with one provider chosen at random
 * to lie with a random probability. Each trial runs a fresh market (new database, new
 * providers) and a job whose true answers are known, then counts: lies told and caught,
 * honest answers wrongly rejected, and the extra container runs that verification cost.
 *
 *   npm run trial:verification -- [--trials 100] [--seed 1] [--subtasks 6]
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { bundleWorkflowCode } from '@temporalio/worker';
import { seededRandom } from '../core/random.js';
import { loadConfig } from '../infra/config.js';
import { gql } from '../infra/graphqlClient.js';
import { startProviderNode, type ProviderNode } from '../workers/provider.js';
import { startRequestorNode, workflowsPath } from '../workers/requestor.js';
import { benchStack } from '../bench/setup.js';

const o = new Command('trial:verification')
  .option('--trials <n>', 'trials', Number, 100)
  .option('--seed <n>', 'seed of the whole run', Number, 1)
  .option('--subtasks <n>', 'subtasks per trial job', Number, 6)
  .option('--port <p>', 'Temporal dev server port for the trials', Number, 27243)
  .parse()
  .opts<{ trials: number; seed: number; subtasks: number; port: number }>();

const log = (m: string) => console.log(`· ${m}`);
const JOB = `query($id: ID!) { job(id: $id) { status error subtasks(first: 500) { nodes { index params attempts { providerId status verdict stdoutTail } } } } }`;

async function main() {
  const { work, temporal } = await benchStack('trials', { temporalPort: o.port, log });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never });
  const rand = seededRandom(o.seed);
  const totals = { lies: 0, caught: 0, honestAnswers: 0, honestRejected: 0, runs: 0, subtasks: 0, failedJobs: 0, wrongMerges: 0 };
  const started = Date.now();
  try {
    for (let t = 0; t < o.trials; t++) {
      const liarSlot = Math.floor(rand() * 4);
      const lieProbability = 0.3 + 0.7 * rand();
      const config = {
        ...loadConfig({}),
        temporalAddress: temporal.address,
        dataDir: path.join(work, `trial-${t}`),
        apiPort: 0,
        requestorTaskQueue: `golemflow.trial-${o.seed}-${t}`,
      };
      const node = await startRequestorNode(config, { workflowBundle });
      // Calls below act as the node's own requestor.
      process.env.GOLEMFLOW_API_KEY = node.apiKey;
      const providers: ProviderNode[] = [];
      try {
        for (let i = 0; i < 4; i++)
          providers.push(
            await startProviderNode({
              name: `t${o.seed}-${t}-p${i}`,
              cpus: 1,
              memory: '512m',
              apiUrl: node.apiUrl,
              temporalAddress: temporal.address,
              buildRuntimes: false,
              benchmark: false,
              checkInIntervalMs: 1000,
              workDir: path.join(work, `trial-${t}`, `p${i}`),
              misbehaviour: i === liarSlot ? { mode: 'wrong-output', probability: lieProbability, seed: o.seed * 1000 + t } : undefined,
            }),
          );
        const liar = providers[liarSlot].id;
        const spec = { image: 'golemflow/compute:1', command: ['echo', '{start}'], split: { kind: 'range', start: 0, end: o.subtasks, step: 1 }, redundancy: 2, merge: { kind: 'concat' } };
        const { submitJob } = await gql<any>(node.apiUrl, 'mutation($s: JSON!) { submitJob(spec: $s) { job { id } } }', { s: spec });
        let job;
        for (;;) {
          job = (await gql<any>(node.apiUrl, JOB, { id: submitJob.job.id })).job;
          if (!['QUEUED', 'RUNNING'].includes(job.status)) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        if (job.status !== 'SUCCEEDED') totals.failedJobs++;
        let lies = 0;
        let caught = 0;
        for (const s of job.subtasks.nodes) {
          totals.subtasks++;
          const truth = String(s.params.start);
          for (const a of s.attempts.filter((x: any) => x.status === 'SUCCEEDED')) {
            totals.runs++;
            const told = a.stdoutTail.trim();
            if (told !== truth) {
              lies++;
              if (a.verdict !== 'ACCEPTED') caught++;
              if (a.providerId !== liar) throw new Error(`trial ${t}: honest provider ${a.providerId} printed ${told}, not ${truth}`);
            } else {
              totals.honestAnswers++;
              if (a.verdict === 'REJECTED') totals.honestRejected++;
            }
          }
        }
        const merged = (await gql<any>(node.apiUrl, 'query($id: ID!) { job(id: $id) { result { value } } }', { id: submitJob.job.id })).job.result?.value;
        const expected = Array.from({ length: o.subtasks }, (_, i) => `${i}\n`).join('');
        if (job.status === 'SUCCEEDED' && merged !== expected) totals.wrongMerges++;
        totals.lies += lies;
        totals.caught += caught;
        console.log(
          `trial ${String(t + 1).padStart(3)}/${o.trials}: liar p${liarSlot} (lies with p=${lieProbability.toFixed(2)}): ${lies} lies, ${caught} caught; job ${job.status.toLowerCase()}`,
        );
      } finally {
        for (const p of providers) await p.close();
        await node.close();
        await fs.rm(config.dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
    await fs.rm(work, { recursive: true, force: true });
  }
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : 'n/a');
  console.log(`\n${o.trials} trials (seed ${o.seed}), ${totals.subtasks} subtasks, redundancy 2, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(`lies caught:                    ${totals.caught}/${totals.lies} (${pct(totals.caught, totals.lies)})`);
  console.log(`honest answers wrongly rejected: ${totals.honestRejected}/${totals.honestAnswers} (${pct(totals.honestRejected, totals.honestAnswers)})`);
  console.log(`jobs failed: ${totals.failedJobs}; merged results wrong: ${totals.wrongMerges}`);
  console.log(`extra cost of verification:     ${totals.runs} container runs for ${totals.subtasks} subtasks = ${(totals.runs / totals.subtasks).toFixed(2)}x one run each (+${pct(totals.runs - totals.subtasks, totals.subtasks)})`);
}

main().catch((e) => {
  console.error(`trial failed: ${(e as Error).message}`);
  process.exit(1);
});
