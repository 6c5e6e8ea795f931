/**
 * A provider node: someone's machine offering its CPUs and memory. It checks in with the
 * requestor's API, polls its own Temporal task queue (`provider.<id>`) and runs subtasks in
 * Docker. It never touches the database: what it needs comes through Temporal and the API.
 *
 *   npm run provider -- --name node-a --cpus 2 --memory 2g --api http://host:4000 --temporal host:7233
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import Docker from 'dockerode';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createProviderActivities } from '../activities/provider.js';
import { LABEL_PREFIX, removeLabelled } from '../activities/sandbox.js';
import { BlobClient } from '../blobs/client.js';
import { parseSize } from '../core/units.js';
import { gql } from '../infra/graphqlClient.js';
import { logger } from '../infra/logger.js';
import { ensureAllRuntimes } from '../runtimes/build.js';
import { closeOnSignals } from './requestor.js';
import { installTemporalRuntime } from './temporalRuntime.js';

export interface ProviderOptions {
  name: string;
  cpus: number;
  memory: string;
  slots?: number;
  apiUrl: string;
  temporalAddress: string;
  namespace?: string;
  /** Scratch space; defaults to a folder under the OS temp dir. */
  workDir?: string;
  /** Build the project's runtime images when missing (default true). */
  buildRuntimes?: boolean;
  checkInIntervalMs?: number;
}

export interface ProviderNode {
  id: string;
  taskQueue: string;
  close(): Promise<void>;
}

const REGISTER = /* GraphQL */ `
  mutation Register($input: ProviderInput!) {
    registerProvider(input: $input) { id taskQueue slots }
  }
`;

/** Starts a provider node and returns once its worker polls. */
export async function startProviderNode(o: ProviderOptions): Promise<ProviderNode> {
  installTemporalRuntime();
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (e) {
    throw new Error(`the Docker engine is not reachable (${(e as Error).message}); start dockerd, or run as a user in the docker group`);
  }
  const memoryBytes = parseSize(o.memory);
  if (!memoryBytes) throw new Error(`--memory ${JSON.stringify(o.memory)} is not a size such as 512m or 2g`);
  const workDir = o.workDir ?? path.join(os.tmpdir(), 'golemflow-provider', o.name);
  if (o.buildRuntimes !== false) await ensureAllRuntimes(docker, { workDir: path.join(workDir, 'runtimes'), log: (m) => logger.info(m) });

  const input = { name: o.name, cpus: o.cpus, memory: o.memory, slots: o.slots ?? null };
  const { registerProvider: me } = await gql<{ registerProvider: { id: string; taskQueue: string; slots: number } }>(o.apiUrl, REGISTER, { input });
  // Containers left by an earlier run of this provider (it was killed) are of no use to anyone now.
  const swept = await removeLabelled(docker, { [`${LABEL_PREFIX}.provider`]: me.id });
  if (swept) logger.warn({ provider: me.id, swept }, 'removed containers left by an earlier run');

  const connection = await NativeConnection.connect({ address: o.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: o.namespace ?? 'default',
    taskQueue: me.taskQueue,
    activities: createProviderActivities({
      docker,
      blobs: new BlobClient(o.apiUrl),
      providerId: me.id,
      workRoot: path.join(workDir, 'work'),
      maxCpus: o.cpus,
      maxMemoryBytes: memoryBytes,
    }),
    maxConcurrentActivityTaskExecutions: me.slots,
    shutdownGraceTime: '3 seconds',
  });
  const running = worker.run();

  // Check in every few seconds: the requestor counts a provider online only while it does.
  let failures = 0;
  const timer = setInterval(() => {
    gql(o.apiUrl, REGISTER, { input }).then(
      () => {
        if (failures) logger.info({ provider: me.id }, 'API reachable again');
        failures = 0;
      },
      (e) => {
        if (failures++ === 0) logger.warn({ provider: me.id, err: (e as Error).message }, 'check-in failed; will keep trying');
      },
    );
  }, o.checkInIntervalMs ?? 5_000);
  logger.info({ provider: me.id, taskQueue: me.taskQueue, slots: me.slots, api: o.apiUrl, temporal: o.temporalAddress }, 'provider node started');

  return {
    id: me.id,
    taskQueue: me.taskQueue,
    close: async () => {
      clearInterval(timer);
      await gql(o.apiUrl, `mutation($id: ID!) { withdrawProvider(id: $id) { id } }`, { id: me.id }).catch(() => undefined);
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

function positive(label: string) {
  return (v: string) => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError(`${label} must be a positive number`);
    return n;
  };
}

/** The command line of `npm run provider`. */
export function providerCommand(): Command {
  return new Command('provider')
    .description('Run a Golemflow provider node: offer this machine to the market and run subtasks in Docker.')
    .requiredOption('--name <name>', 'provider name: lowercase letters, digits, dashes; also its id')
    .option('--cpus <n>', 'CPUs offered', positive('--cpus'), Math.max(1, os.cpus().length))
    .option('--memory <size>', 'memory offered, e.g. 2g', '2g')
    .option('--slots <n>', 'subtasks run at once (default: whole cpus)', positive('--slots'))
    .option('--api <url>', 'the requestor node API', process.env.GOLEMFLOW_API ?? 'http://127.0.0.1:4000')
    .option('--temporal <host:port>', 'the Temporal server', process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233')
    .option('--namespace <ns>', 'Temporal namespace', process.env.TEMPORAL_NAMESPACE ?? 'default')
    .option('--work-dir <dir>', 'scratch space for subtasks')
    .option('--no-build-runtimes', 'do not build the project runtime images')
    .action(async (opts) => {
      const node = await startProviderNode({
        name: opts.name,
        cpus: opts.cpus,
        memory: opts.memory,
        slots: opts.slots,
        apiUrl: opts.api,
        temporalAddress: opts.temporal,
        namespace: opts.namespace,
        workDir: opts.workDir,
        buildRuntimes: opts.buildRuntimes,
      });
      closeOnSignals(node.close);
    });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  providerCommand()
    .parseAsync(process.argv)
    .catch((e) => {
      logger.error(`provider failed to start: ${(e as Error).message}`);
      process.exit(1);
    });
}
