/**
 * The requestor node: the jobs' workflows and the requestor activities on the requestor's task
 * queue, plus the API (GraphQL and blobs) in the same process. It is the only writer of the
 * database and the blob store.
 *
 *   npm run requestor        (env: TEMPORAL_ADDRESS, DATABASE_URL, API_PORT, GOLEMFLOW_DATA)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { ensureSearchAttributes } from '../infra/searchAttributes.js';
import { requestorMetrics } from '../api/metrics.js';
import Docker from 'dockerode';
import { CapacitySignal } from '../adapters/capacity.js';
import { eventWriter } from '../adapters/events.js';
import { connectChain, type Chain } from '../adapters/chain.js';
import { createCompareActivities } from '../activities/compare.js';
import { createPaymentActivities } from '../activities/payments.js';
import { NETWORKS, type NetworkName } from '../core/payments.js';
import { createMarketActivities } from '../activities/market.js';
import { createAnswerBook } from '../adapters/answers.js';
import { createRequestorActivities } from '../activities/requestor.js';
import { EventBus } from '../api/events.js';
import { startApiServer } from '../api/server.js';
import { ensureNodeKey, nodeKeyFile } from '../api/auth.js';
import { BlobStore } from '../blobs/store.js';
import { loadConfig, type Config } from '../infra/config.js';
import { logger } from '../infra/logger.js';
import { openDatabase, type Database } from '../schema/db.js';
import { startSweeper, type Sweeper } from './sweeper.js';
import { installTemporalRuntime } from './temporalRuntime.js';
import { closeOnSignals } from '../infra/shutdown.js';

export const workflowsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');

/** The requestor's own Docker engine, needed only for users' comparator commands. */
async function requestorDocker(): Promise<Docker> {
  const docker = new Docker();
  await docker.ping().catch((e: Error) => {
    throw new Error(`the Docker engine does not answer (${e.message}); start it on the requestor's machine`);
  });
  return docker;
}

/** The requestor's wallet, connected on first use and again after a failure (the chain may come back). */
function chainOf(database: Database, config: Config): () => Promise<Chain> {
  let connected: Promise<Chain> | undefined;
  return () => {
    connected ??= (async () => {
      return connectChain(
        database.db,
        {
          rpcUrl: config.chain.rpcUrl,
          network: config.chain.network as NetworkName,
          privateKey: config.chain.privateKey as `0x${string}`,
          confirmations: config.chain.confirmations,
          replaceAfterMs: config.chain.replaceAfterMs,
          escrowAddress: config.chain.escrowAddress as `0x${string}` | undefined,
          cacheDir: path.join(config.dataDir, 'contracts'),
        },
        (m) => logger.info(m),
      );
    })().catch((e) => {
      connected = undefined;
      throw e;
    });
    return connected;
  };
}

export interface RequestorNode {
  apiUrl: string;
  client: Client;
  database: Database;
  blobs: BlobStore;
  config: Config;
  sweeper: Sweeper;
  /** An API key for the node's own requestor (also in <data>/requestor.key). */
  apiKey: string;
  close(): Promise<void>;
}

/** Starts the requestor node; `bundle` lets tests reuse one workflow bundle. */
export async function startRequestorNode(config: Config, opts: { workflowBundle?: WorkerOptions['workflowBundle']; api?: boolean } = {}): Promise<RequestorNode> {
  installTemporalRuntime();
  // A payment setting that cannot work is refused at start, before any job locks anything.
  if (!(config.chain.network in NETWORKS))
    throw new Error(`CHAIN_NETWORK ${JSON.stringify(config.chain.network)} is not a known network (known: ${Object.keys(NETWORKS).join(', ')})`);
  if (!/^0x[0-9a-fA-F]{64}$/.test(config.chain.privateKey)) throw new Error('REQUESTOR_PRIVATE_KEY must be 0x and 64 hex digits');
  if (config.chain.escrowAddress && !/^0x[0-9a-fA-F]{40}$/.test(config.chain.escrowAddress)) throw new Error(`ESCROW_ADDRESS ${JSON.stringify(config.chain.escrowAddress)} is not an address`);
  const database = await openDatabase({ url: config.databaseUrl, dataDir: path.join(config.dataDir, 'pglite') });
  const closers: Array<() => Promise<unknown>> = [() => database.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((e) => logger.warn({ err: e }, 'while closing'));
  };
  try {
    const blobs = new BlobStore(path.join(config.dataDir, 'blobs'));
    const events = new EventBus();
    const onEvent = (jobId: string) => events.notify(jobId);
    const capacity = new CapacitySignal();
    const metrics = requestorMetrics(database.db, { node: config.requestorTaskQueue, providerLivenessMs: config.providerLivenessMs });
    const clientConnection = await Connection.connect({ address: config.temporalAddress });
    closers.push(() => clientConnection.close());
    const client = new Client({ connection: clientConnection, namespace: config.temporalNamespace });
    const registered = await ensureSearchAttributes(clientConnection, config.temporalNamespace);
    if (registered.length) logger.info({ searchAttributes: registered }, 'registered the job search attributes with Temporal');
    const connection = await NativeConnection.connect({ address: config.temporalAddress });
    closers.push(() => connection.close());
    const chain = chainOf(database, config);
    // Providers' answers reach the market two ways (the workflow, and the provider through the API): one record.
    const answers = createAnswerBook({ db: database.db, capacity, addEvent: eventWriter(database.db, onEvent) });
    const worker = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue: config.requestorTaskQueue,
      ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath }),
      activities: {
        ...createRequestorActivities({ db: database.db, blobs, capacity, onEvent, docker: requestorDocker, workRoot: path.join(config.dataDir, 'merge'), onAttemptFinished: metrics.hooks.attemptFinished, answers }),
        ...createPaymentActivities({ db: database.db, chain, addEvent: eventWriter(database.db, onEvent) }),
        ...createCompareActivities({ db: database.db, blobs, docker: requestorDocker, workRoot: path.join(config.dataDir, 'compare') }),
        ...createMarketActivities({ db: database.db, capacity, providerLivenessMs: config.providerLivenessMs, addEvent: eventWriter(database.db, onEvent), answers }),
      },
    });
    const running = worker.run();
    closers.push(async () => {
      // The worker stops on SIGINT/SIGTERM by itself; shut it down only if it still runs.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    // Ends agreements that outlived their reason, whatever left them open (see sweeper.ts).
    const sweeper = startSweeper({
      db: database.db,
      temporal: client,
      capacity,
      addEvent: eventWriter(database.db, onEvent),
      log: (fields, message) => logger.warn(fields, message),
      intervalMs: config.sweepIntervalMs,
      graceMs: config.sweepGraceMs,
    });
    closers.push(() => sweeper.stop());
    // The demo and the CLI on this machine act as the node's own requestor with this key
    // (written before the API answers, so whoever waits for the API finds it).
    const apiKey = await ensureNodeKey(database.db, config.dataDir, config.requestorId);
    let apiUrl = config.publicApiUrl;
    if (opts.api !== false) {
      // With API_PORT=0 the real port is known only once listening; links must name it.
      const apiConfig = { ...config };
      const api = await startApiServer({ db: database.db, blobs, temporal: client, config: apiConfig, events, chain, sweeper, answers, metrics: metrics.registry }, config.apiHost, config.apiPort);
      closers.push(() => api.close());
      if (config.apiPort === 0) apiConfig.publicApiUrl = api.url;
      apiUrl = config.apiPort === 0 ? api.url : config.publicApiUrl;
    }
    logger.info({ api: `${apiUrl}/graphql`, database: database.location, taskQueue: config.requestorTaskQueue, apiKeyFile: nodeKeyFile(config.dataDir) }, 'requestor node started');
    return { apiUrl, client, database, blobs, config, sweeper, apiKey, close };
  } catch (e) {
    await close();
    throw e;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  startRequestorNode(loadConfig()).then(
    (node) => closeOnSignals(node.close),
    (e) => {
      logger.error(`requestor node failed to start: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
