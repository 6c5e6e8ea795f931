/**
 * A provider node: someone's machine offering its CPUs and memory at its own prices. It
 * benchmarks itself in the sandbox, publishes its offer to the requestor's API and keeps it
 * fresh (that is also how the market knows it is alive), polls its own Temporal task queue
 * (`provider.<id>`), answers proposals from its own policy and runs subtasks in Docker under the
 * agreements it approved. It never touches the database.
 *
 *   npm run provider -- --name node-a --cpus 2 --memory 2g --api http://host:4000 --temporal host:7233
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import Docker from 'dockerode';
import { parse as parseYaml } from 'yaml';
import { NativeConnection, Worker } from '@temporalio/worker';
import pRetry from 'p-retry';
import { runBenchmark } from '../adapters/benchmark.js';
import { parseMisbehaviour, type Misbehaviour } from '../adapters/misbehaviour.js';
import { createProviderActivities } from '../activities/provider.js';
import { ProviderAgreements } from '../adapters/providerAgreements.js';
import { providerMetrics } from '../adapters/providerMetrics.js';
import { serveMetrics } from '../infra/metrics.js';
import { LABEL_PREFIX, removeLabelled, type OutputLimits } from '../adapters/sandbox.js';
import { BlobClient } from '../blobs/client.js';
import { agreementCapacity, type Pricing } from '../core/market.js';
import { validateOffer, type OfferInput } from '../core/offer.js';
import { loadOrCreateWallet } from './wallet.js';
import type { ProviderPolicy, SignedDecision } from '../core/policy.js';
import { resolvePreset, type ProviderConfigFile } from '../core/presets.js';
import { formatSize } from '../core/units.js';
import { offerMessage, signIdentity, withdrawalMessage } from '../core/identity.js';
import { gql } from '../infra/graphqlClient.js';
import { logger } from '../infra/logger.js';
import { ensureAllRuntimes } from '../runtimes/build.js';
import { closeOnSignals } from '../infra/shutdown.js';
import { installTemporalRuntime } from './temporalRuntime.js';

export interface ProviderOptions {
  name: string;
  cpus: number;
  memory: string;
  disk?: string;
  gpu?: { model: string; count: number };
  /** Concurrent agreements (subtasks at once); default: the preset's, else whole cpus. */
  slots?: number;
  apiUrl: string;
  temporalAddress: string;
  namespace?: string;
  /** Named prices and limits (built-in: default, budget, premium; more from the config file). */
  preset?: string;
  config?: ProviderConfigFile;
  /** Overrides of the preset's prices. */
  pricing?: Partial<Pricing>;
  minPricing?: Partial<Pricing>;
  maxSubtaskSeconds?: number;
  allowedRequestors?: string[];
  blockedRequestors?: string[];
  allowedImages?: string[];
  /** Scratch space; defaults to a folder under the OS temp dir. */
  workDir?: string;
  /** Where GLM is paid; default: the provider's own wallet, created in its folder on first start. */
  paymentAddress?: string;
  /** Build the project's runtime images when missing (default true). */
  buildRuntimes?: boolean;
  /** Run the start-up benchmark (default true). */
  benchmark?: boolean;
  checkInIntervalMs?: number;
  /** Test mode only: misbehave on purpose (wrong output, hang, exit half-way). */
  misbehaviour?: Misbehaviour;
  /** How long to wait at start for the requestor's API and Temporal to answer (default: for ever). */
  startupWaitMs?: number;
  /** What one run may write: stdout, stderr, /out in bytes (defaults in adapters/sandbox.ts). */
  outputLimits?: Partial<OutputLimits>;
  /** Serve GET /metrics on host:port (port 0: any free one); absent: no metrics server. */
  metrics?: { host: string; port: number };
}

export interface ProviderNode {
  id: string;
  taskQueue: string;
  offer: OfferInput;
  /** Where its Prometheus metrics are served, when they are. */
  metricsUrl: string | null;
  /** Stops the node; `withdraw: false` leaves the offer published, as a crash would. */
  close(opts?: { withdraw?: boolean }): Promise<void>;
}

const PUBLISH = /* GraphQL */ `
  mutation Publish($input: OfferInput!, $proof: SignatureInput!) {
    publishOffer(input: $input, proof: $proof) { id taskQueue slots openAgreements }
  }
`;

/** A provider speaks for itself by its signatures, never with a requestor's key (GOLEMFLOW_API_KEY may be set on a machine that is both). */
const ANONYMOUS = { apiKey: null };

const ANSWER = /* GraphQL */ `
  mutation Answer($agreementId: ID!, $answer: AnswerInput!) {
    answerProposal(agreementId: $agreementId, answer: $answer) { approved reason }
  }
`;
type Answered = { answerProposal: { approved: boolean; reason: string | null } };

/** A signed answer as the API takes it (AnswerInput). */
function answerInput(a: SignedDecision) {
  return { decision: a.decision, reason: 'reason' in a ? a.reason : null, pricing: a.decision === 'counter' ? a.pricing : null, signature: a.signature };
}

/** The fields that are set: an option left out must not override a preset's value. */
function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The offer and the policy this provider's options make; throws with every problem named. */
export function providerTerms(o: ProviderOptions): { offer: OfferInput; policy: ProviderPolicy } {
  const preset = resolvePreset(o.preset ?? o.config?.preset ?? 'default', o.config);
  const pricing = { ...preset.pricing, ...defined(o.pricing) };
  const offer: OfferInput = {
    name: o.name,
    cpus: o.cpus,
    memory: o.memory,
    disk: o.disk ?? null,
    gpu: o.gpu ?? null,
    runtimes: ['docker'],
    images: o.allowedImages ?? o.config?.allowedImages ?? ['*'],
    pricing,
    limits: {
      maxConcurrentAgreements: o.slots ?? preset.maxConcurrentAgreements ?? Math.max(1, Math.floor(o.cpus)),
      maxSubtaskSeconds: o.maxSubtaskSeconds ?? preset.maxSubtaskSeconds,
    },
    preset: o.preset ?? o.config?.preset ?? 'default',
    paymentAddress: o.paymentAddress ?? null,
    machine: { cpus: os.cpus().length, memory: String(os.totalmem()) },
  };
  const checked = validateOffer(offer); // refuses absurd prices, unknown runtimes, more than the machine has
  const policy: ProviderPolicy = {
    offerPricing: pricing,
    minPricing: { ...(preset.minPricing ?? pricing), ...defined(o.minPricing) },
    allowedRequestors: o.allowedRequestors ?? o.config?.allowedRequestors ?? null,
    blockedRequestors: o.blockedRequestors ?? o.config?.blockedRequestors ?? [],
    allowedImages: checked.images,
    maxSubtaskSeconds: checked.limits.maxSubtaskSeconds,
    maxConcurrentAgreements: checked.limits.maxConcurrentAgreements,
  };
  return { offer, policy };
}

/** Starts a provider node and returns once its worker polls and its offer is published. */
export async function startProviderNode(o: ProviderOptions): Promise<ProviderNode> {
  installTemporalRuntime();
  const { offer, policy } = providerTerms(o);
  if (o.misbehaviour)
    logger.warn(
      { provider: o.name, misbehaviour: o.misbehaviour },
      `!!! TEST MODE: provider ${o.name} MISBEHAVES ON PURPOSE (${o.misbehaviour.mode}, probability ${o.misbehaviour.probability}); never run this for real work !!!`,
    );
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (e) {
    throw new Error(`the Docker engine is not reachable (${(e as Error).message}); start dockerd, or run as a user in the docker group`);
  }
  const workDir = o.workDir ?? path.join(os.tmpdir(), 'golemflow-provider', o.name);
  // The node's key is its identity: everything it tells the market is signed with it.
  const wallet = await loadOrCreateWallet(path.join(workDir, 'wallet'));
  offer.paymentAddress ??= wallet.address;
  if (wallet.created) logger.info({ provider: o.name, address: wallet.address, file: wallet.file }, 'created the provider wallet (its identity; GLM is paid here unless --payment-address says otherwise)');
  if (o.buildRuntimes !== false) await ensureAllRuntimes(docker, { workDir: path.join(workDir, 'runtimes'), log: (m) => logger.info(m) });
  // Containers left by an earlier run of this provider (it was killed) are of no use to anyone now.
  const swept = await removeLabelled(docker, { [`${LABEL_PREFIX}.provider`]: o.name });
  if (swept) logger.warn({ provider: o.name, swept }, 'removed containers left by an earlier run');
  if (o.benchmark !== false) {
    offer.benchmark = await runBenchmark(docker, { name: o.name, cpus: o.cpus, workDir });
    logger.info({ provider: o.name, ...offer.benchmark }, 'benchmark done');
  }

  type Published = { publishOffer: { id: string; taskQueue: string; slots: number; openAgreements: string[] } };
  // A provider may start before the requestor node or Temporal, or while either restarts: it
  // waits for them, saying so, instead of exiting. A refused offer is final at once.
  const publish = async () => {
    const signedAt = Date.now();
    const signature = await signIdentity(wallet.account, 'Offer', offerMessage(offer.name, offer, signedAt));
    return gql<Published>(o.apiUrl, PUBLISH, { input: offer, proof: { signedAt, signature } }, ANONYMOUS);
  };
  const { publishOffer: me } = await untilReachable(`the requestor node's API at ${o.apiUrl}`, publish, o.startupWaitMs);
  // At most `slots` containers at once; an agreement beyond them waits its turn on this node.
  const agreements = new ProviderAgreements(undefined, me.slots);
  const metrics = providerMetrics({ provider: me.id, slots: me.slots, agreements });
  const metricsServer = o.metrics ? await serveMetrics(metrics.registry, o.metrics.host, o.metrics.port) : null;
  const connection = await untilReachable(`Temporal at ${o.temporalAddress}`, () => NativeConnection.connect({ address: o.temporalAddress }), o.startupWaitMs);
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
      maxMemoryBytes: validateOffer(offer).memoryBytes,
      policy,
      misbehaviour: o.misbehaviour,
      agreements,
      identity: wallet.account,
      outputLimits: o.outputLimits,
      metrics: metrics.hooks,
      tellMarket: async (agreementId, answer) => (await gql<Answered>(o.apiUrl, ANSWER, { agreementId, answer: answerInput(answer) }, ANONYMOUS)).answerProposal,
    }),
    // Runs waiting behind busy slots are picked up at once (they wait here, heartbeating), and
    // proposals are answered even while every slot runs a container.
    maxConcurrentActivityTaskExecutions: agreementCapacity(me.slots) + 4,
    shutdownGraceTime: '3 seconds',
  });
  const running = worker.run();

  // Republish every few seconds: the market counts an offer only while its provider does. The
  // answer names the agreements the market still holds open for this provider: any other
  // approval is dropped (and what runs under it killed), so a slot never outlives its job.
  let failures = 0;
  const timer = setInterval(() => {
    const askedAt = Date.now();
    publish().then(
      ({ publishOffer }) => {
        if (failures) logger.info({ provider: me.id }, 'API reachable again');
        failures = 0;
        const dropped = agreements.retain(new Set(publishOffer.openAgreements), askedAt);
        if (dropped.length) logger.info({ provider: me.id, agreements: dropped }, 'released agreements the market no longer holds open');
      },
      (e) => {
        if (failures++ === 0) logger.warn({ provider: me.id, err: (e as Error).message }, 'publishing the offer failed; will keep trying');
        const lapsed = agreements.lapse();
        if (lapsed.length) logger.warn({ provider: me.id, agreements: lapsed }, 'approvals lapsed: no run came for them');
      },
    );
  }, o.checkInIntervalMs ?? 5_000);
  logger.info(
    { provider: me.id, taskQueue: me.taskQueue, slots: me.slots, pricing: offer.pricing, preset: offer.preset, memory: formatSize(validateOffer(offer).memoryBytes), metrics: metricsServer?.url },
    'provider node started',
  );

  return {
    id: me.id,
    taskQueue: me.taskQueue,
    offer,
    metricsUrl: metricsServer?.url ?? null,
    close: async ({ withdraw = true } = {}) => {
      clearInterval(timer);
      await metricsServer?.close();
      if (withdraw) {
        const signedAt = Date.now();
        const signature = await signIdentity(wallet.account, 'Withdrawal', withdrawalMessage(me.id, signedAt));
        await gql(o.apiUrl, `mutation($id: ID!, $proof: SignatureInput!) { withdrawOffer(providerId: $id, proof: $proof) { id } }`, { id: me.id, proof: { signedAt, signature } }, ANONYMOUS).catch(() => undefined);
      }
      // The worker stops on SIGINT/SIGTERM by itself; shut it down only if it still runs.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** `host:port` (or a bare port, on 127.0.0.1) from a flag. */
function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError(`${flag} wants host:port or a port, e.g. 127.0.0.1:9101 (got ${JSON.stringify(text)})`);
  return { host: m[1] ?? '127.0.0.1', port: Number(m[2]) };
}

/** Retries `call` while what it reaches does not answer (a connection error), for up to `waitMs`. */
async function untilReachable<T>(what: string, call: () => Promise<T>, waitMs = Infinity): Promise<T> {
  const started = Date.now();
  return pRetry(call, {
    retries: Infinity,
    minTimeout: 500,
    maxTimeout: 5_000,
    shouldRetry: ({ error }) => UNREACHABLE.test(error.message) && Date.now() - started < waitMs,
    onFailedAttempt: ({ error, attemptNumber }) => {
      if (attemptNumber === 1 || attemptNumber % 10 === 0) logger.warn({ err: error.message }, `waiting for ${what}`);
    },
  });
}
const UNREACHABLE = /cannot reach|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|connect error|Connection refused|transport/i;

function positive(label: string) {
  return (v: string) => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError(`${label} must be a positive number`);
    return n;
  };
}

function price(label: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${label} must be a price in GLM, 0 or more`);
    return n;
  };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

async function readConfig(file: string): Promise<ProviderConfigFile> {
  const text = await fs.readFile(file, 'utf8').catch((e) => {
    throw new Error(`--config ${file}: ${(e as Error).message}`);
  });
  try {
    return (file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) ?? {};
  } catch (e) {
    throw new Error(`--config ${file}: ${(e as Error).message}`);
  }
}

/** The command line of `npm run provider`. */
export function providerCommand(): Command {
  return new Command('provider')
    .description('Run a Golemflow provider node: offer this machine to the market and run subtasks in Docker.')
    .requiredOption('--name <name>', 'provider name: lowercase letters, digits, dashes; also its id')
    .option('--cpus <n>', 'CPUs offered', positive('--cpus'), Math.max(1, os.cpus().length))
    .option('--memory <size>', 'memory offered, e.g. 2g', '2g')
    .option('--disk <size>', 'disk offered, e.g. 10g')
    .option('--gpu-model <model>', 'GPU model offered')
    .option('--gpu-count <n>', 'GPUs offered', positive('--gpu-count'))
    .option('--slots <n>', 'subtasks at once (concurrent agreements)', positive('--slots'))
    .option('--preset <name>', 'prices and limits: default, budget, premium, or one from --config')
    .option('--config <file>', 'YAML or JSON: presets, allowedRequestors, blockedRequestors, allowedImages')
    .option('--price-start <glm>', 'start price per subtask', price('--price-start'))
    .option('--price-cpu-second <glm>', 'price per CPU-second', price('--price-cpu-second'))
    .option('--price-env-second <glm>', 'price per second of wall time', price('--price-env-second'))
    .option('--max-subtask-seconds <s>', 'longest subtask accepted', positive('--max-subtask-seconds'))
    .option('--allow-requestor <id>', 'serve only these requestors (repeatable)', collect)
    .option('--block-requestor <id>', 'never serve this requestor (repeatable)', collect)
    .option('--allow-image <pattern>', 'images run here, e.g. golemflow/* (repeatable; default: any)', collect)
    .option('--api <url>', 'the requestor node API', process.env.GOLEMFLOW_API ?? 'http://127.0.0.1:4000')
    .option('--temporal <host:port>', 'the Temporal server', process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233')
    .option('--namespace <ns>', 'Temporal namespace', process.env.TEMPORAL_NAMESPACE ?? 'default')
    .option('--metrics <host:port>', 'serve Prometheus metrics at http://host:port/metrics', process.env.PROVIDER_METRICS)
    .option('--work-dir <dir>', 'scratch space for subtasks')
    .option('--payment-address <0x…>', 'where GLM is paid (default: a wallet of its own, kept in the work dir)')
    .option('--no-build-runtimes', 'do not build the project runtime images')
    .addOption(new Option('--no-benchmark', 'skip the start-up benchmark (the offer then has no score)'))
    .option('--test-misbehave <mode>', 'TEST ONLY: misbehave on purpose: wrong-output[:probability], noisy-output[:probability] (PNG pixels a little off), hang, exit-midway, inflated-usage')
    .option('--test-misbehave-seed <n>', 'TEST ONLY: seed of the misbehaviour draws', Number, 1)
    .action(async (opts) => {
      if ((opts.gpuModel === undefined) !== (opts.gpuCount === undefined)) throw new Error('--gpu-model and --gpu-count go together');
      const node = await startProviderNode({
        name: opts.name,
        cpus: opts.cpus,
        memory: opts.memory,
        disk: opts.disk,
        gpu: opts.gpuModel ? { model: opts.gpuModel, count: opts.gpuCount } : undefined,
        slots: opts.slots,
        preset: opts.preset,
        config: opts.config ? await readConfig(opts.config) : undefined,
        pricing: { start: opts.priceStart, cpuSecond: opts.priceCpuSecond, envSecond: opts.priceEnvSecond },
        maxSubtaskSeconds: opts.maxSubtaskSeconds,
        allowedRequestors: opts.allowRequestor,
        blockedRequestors: opts.blockRequestor,
        allowedImages: opts.allowImage,
        apiUrl: opts.api,
        temporalAddress: opts.temporal,
        namespace: opts.namespace,
        workDir: opts.workDir,
        paymentAddress: opts.paymentAddress,
        buildRuntimes: opts.buildRuntimes,
        benchmark: opts.benchmark,
        misbehaviour: opts.testMisbehave ? parseMisbehaviour(opts.testMisbehave, opts.testMisbehaveSeed) : undefined,
        metrics: opts.metrics ? hostPort(opts.metrics, '--metrics') : undefined,
      });
      closeOnSignals(() => node.close());
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
