/**
 * npm run bench:render: the 48-frame animation of examples/animation rendered through Golemflow
 * on 1, 2 and 4 local providers (1 cpu each, redundancy 1), next to the same frames rendered
 * directly in one container (1 cpu). Prints each makespan and the speed-up over the direct
 * render. This machine's cores bound the speed-up: 4 providers on 2 cores cannot beat 2×.
 *
 *   npm run bench:render -- [--frames 48] [--width 320] [--height 240] [--counts 1,2,4]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { runInSandbox } from '../adapters/sandbox.js';
import { BlobClient, refOfFile } from '../blobs/client.js';
import { loadConfig } from '../infra/config.js';
import { gql } from '../infra/graphqlClient.js';
import { startProviderNode, type ProviderNode } from '../workers/provider.js';
import { startRequestorNode } from '../workers/requestor.js';
import { benchStack } from './setup.js';

const o = new Command('bench:render')
  .option('--frames <n>', 'frames in the animation', Number, 48)
  .option('--width <px>', 'frame width', Number, 320)
  .option('--height <px>', 'frame height', Number, 240)
  .option('--counts <list>', 'provider counts to try', (v: string) => v.split(',').map(Number), [1, 2, 4])
  .option('--port <p>', 'Temporal dev server port', Number, 27283)
  .parse()
  .opts<{ frames: number; width: number; height: number; counts: number[]; port: number }>();

const log = (m: string) => console.log(`· ${m}`);
const sceneDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../examples/animation');
/** The scene and the include it needs, as a subtask sees them under /in. */
const SCENE_FILES = ['scene.pov', 'materials.inc'];

async function main() {
  const { work, docker, temporal, anvil } = await benchStack('bench-render', { temporalPort: o.port, anvilPort: o.port + 1300, log });
  const last = o.frames - 1;
  const size = [String(o.width), String(o.height)];
  const results: Array<{ label: string; seconds: number }> = [];
  try {
    // The same frames in one container, outside Golemflow.
    const direct = path.join(work, 'direct');
    await fs.mkdir(path.join(direct, 'in'), { recursive: true });
    await fs.mkdir(path.join(direct, 'out'), { recursive: true });
    await fs.chmod(path.join(direct, 'out'), 0o777);
    for (const f of SCENE_FILES) await fs.copyFile(path.join(sceneDir, f), path.join(direct, 'in', f));
    const t0 = Date.now();
    const res = await runInSandbox(docker, {
      name: `golemflow-bench-render-${path.basename(work)}`,
      image: 'golemflow/render:1',
      command: ['render', '/in/scene.pov', '0', String(last), '0', String(last), ...size],
      inputDir: path.join(direct, 'in'),
      outputDir: path.join(direct, 'out'),
      logDir: path.join(direct, 'log'),
      cpus: 1,
      memoryBytes: 512 * 1024 * 1024,
      timeoutMs: 3600_000,
    });
    if (res.exitCode !== 0) throw new Error(`the direct render failed: ${await fs.readFile(res.stderrFile, 'utf8')}`);
    const directSeconds = (Date.now() - t0) / 1000;
    results.push({ label: 'direct, one container (1 cpu)', seconds: directSeconds });
    log(`direct render of ${o.frames} frames: ${directSeconds.toFixed(1)} s`);

    for (const count of o.counts) {
      const base = loadConfig({});
      const node = await startRequestorNode({
        ...base,
        temporalAddress: temporal.address,
        dataDir: path.join(work, `n${count}`),
        apiPort: 0,
        requestorTaskQueue: `golemflow.bench-render-${count}-${path.basename(work)}`,
        chain: { ...base.chain, rpcUrl: anvil.rpcUrl },
      });
      // Calls below act as the node's own requestor.
      process.env.GOLEMFLOW_API_KEY = node.apiKey;
      const providers: ProviderNode[] = [];
      try {
        for (let i = 0; i < count; i++)
          providers.push(
            await startProviderNode({
              name: `render-${count}-${i}-${path.basename(work).slice(-6).toLowerCase()}`,
              cpus: 1,
              memory: '1g',
              apiUrl: node.apiUrl,
              temporalAddress: temporal.address,
              buildRuntimes: false,
              benchmark: false,
            }),
          );
        const inputs = [];
        for (const f of SCENE_FILES) {
          const ref = await refOfFile(path.join(sceneDir, f));
          await new BlobClient(node.apiUrl, `Bearer ${node.apiKey}`).uploadFile(path.join(sceneDir, f), ref);
          inputs.push({ name: f, ref });
        }
        const started = Date.now();
        const { submitJob } = await gql<{ submitJob: { job: { id: string } } }>(node.apiUrl, 'mutation($spec: JSON!) { submitJob(spec: $spec) { job { id } } }', {
          spec: {
            image: 'golemflow/render:1',
            command: ['render', '/in/scene.pov', '{start}', '{end}', '{first}', '{last}', ...size],
            inputs,
            split: { kind: 'frames', first: 0, last, framesPerSubtask: 2 },
            resources: { cpus: 1, memory: '512m' },
            redundancy: 1,
            maxParallel: count,
          },
        });
        for (;;) {
          const { job } = await gql<{ job: { status: string; error: string | null } }>(node.apiUrl, 'query($id: ID!) { job(id: $id) { status error } }', { id: submitJob.job.id });
          if (job.status === 'SUCCEEDED') break;
          if (!['QUEUED', 'RUNNING'].includes(job.status)) throw new Error(`the job ended ${job.status}: ${job.error}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const seconds = (Date.now() - started) / 1000;
        results.push({ label: `Golemflow, ${count} provider${count === 1 ? '' : 's'}`, seconds });
        log(`${count} providers: ${seconds.toFixed(1)} s`);
      } finally {
        for (const p of providers) await p.close().catch(() => undefined);
        await node.close();
      }
    }
  } finally {
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
    if (anvil.pid) process.kill(anvil.pid, 'SIGTERM');
  }
  const direct = results[0].seconds;
  console.log(`\n${o.frames} frames of ${o.width}×${o.height} on a machine with ${os.cpus().length} cores:`);
  console.log('run                               makespan s  speed-up over direct');
  for (const r of results) console.log(`${r.label.padEnd(32)}  ${r.seconds.toFixed(1).padStart(10)}  ${(direct / r.seconds).toFixed(2).padStart(8)}×`);
}

main().catch((e) => {
  console.error(`bench:render failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
