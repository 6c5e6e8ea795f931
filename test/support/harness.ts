/**
 * A whole local market for one test file: a fresh PostgreSQL database, a requestor node on its
 * own task queue and random API port, and provider nodes with names unique to the file (task
 * queues are global in the Temporal server that all files share).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { scratchDatabase } from './scratch.js';
import { inject, vi } from 'vitest';
import { toHex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { ANVIL_MNEMONIC } from '../../infra/anvil.js';
import { loadConfig, type Config } from '../../infra/config.js';
import { gql } from '../../infra/graphqlClient.js';
import { startProviderNode, type ProviderNode, type ProviderOptions } from '../../workers/provider.js';
import { startRequestorNode, workflowsPath, type RequestorNode } from '../../workers/requestor.js';

export const suffix = () => randomBytes(3).toString('hex');

/** Creates an empty database; `drop` removes it. */
export function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return scratchDatabase(inject('adminDatabaseUrl'), `golemflow_test_${suffix()}`);
}

let bundle: ReturnType<typeof bundleWorkflowCode> | undefined;

/** One workflow bundle per test process (the promise is kept, so tests that ask at once share one build). */
export function workflowBundle() {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never });
  return bundle;
}

export interface TestMarket {
  node: RequestorNode;
  apiUrl: string;
  temporalAddress: string;
  providers: ProviderNode[];
  addProvider(name: string, opts?: Partial<ProviderOptions>): Promise<ProviderNode>;
  /** A GraphQL call as the node's own requestor (its key), or as `opts.apiKey` (null: anonymous). */
  gql<T = any>(query: string, variables?: Record<string, unknown>, opts?: { apiKey?: string | null }): Promise<T>;
  /** The node's own requestor key, and the header that carries it (for blob routes). */
  apiKey: string;
  auth: { authorization: string };
  close(): Promise<void>;
}

/** Starts a requestor node and the named providers. */
let marketCount = Math.floor(Math.random() * 19);

/** The private key of Anvil's development account `index`. */
export function anvilKey(index: number): `0x${string}` {
  return toHex(mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index }).getHdKey().privateKey!);
}

export async function startMarket(
  providerNames: string[],
  opts: { livenessMs?: number; requestorId?: string; pglite?: boolean; replaceAfterMs?: number; chainRpcUrl?: string; sweepGraceMs?: number; sweepIntervalMs?: number; limits?: Partial<Config['limits']>; apiHost?: string } = {},
): Promise<TestMarket> {
  const temporalAddress = inject('temporalAddress');
  // The embedded PGlite database (what the demo uses) has one connection: worth its own test.
  const db = opts.pglite ? { url: undefined, drop: async () => {} } : await freshDatabase();
  const id = suffix();
  const base = loadConfig({});
  const config = {
    ...base,
    temporalAddress,
    databaseUrl: db.url,
    dataDir: path.join(os.tmpdir(), `golemflow-test-${id}`),
    apiPort: 0,
    // The address the API listens on, and so the one it hands out (API_PORT=0 makes it name the real port).
    apiHost: opts.apiHost ?? base.apiHost,
    requestorTaskQueue: `golemflow.requestor.test-${id}`,
    providerLivenessMs: opts.livenessMs ?? 15_000,
    requestorId: opts.requestorId ?? `requestor-${id}`,
    sweepGraceMs: opts.sweepGraceMs ?? base.sweepGraceMs,
    sweepIntervalMs: opts.sweepIntervalMs ?? base.sweepIntervalMs,
    limits: { ...base.limits, ...opts.limits },
    // Each market pays from an Anvil account of its own, so files never share a nonce sequence.
    chain: { ...base.chain, rpcUrl: opts.chainRpcUrl ?? inject('chainRpcUrl'), privateKey: anvilKey(1 + (marketCount++ % 19)), replaceAfterMs: opts.replaceAfterMs ?? 30_000 },
  };
  const node = await startRequestorNode(config, { workflowBundle: await workflowBundle() });
  const providers: ProviderNode[] = [];
  const addProvider = async (name: string, p: Partial<ProviderOptions> = {}) => {
    const provider = await startProviderNode({
      cpus: 1,
      memory: '1g',
      apiUrl: node.apiUrl,
      temporalAddress,
      buildRuntimes: false,
      benchmark: false,
      checkInIntervalMs: 1000,
      ...p,
      name: `${name}-${id}`,
    });
    providers.push(provider);
    return provider;
  };
  for (const name of providerNames) await addProvider(name);
  return {
    node,
    apiUrl: node.apiUrl,
    temporalAddress,
    providers,
    addProvider,
    gql: (q, v, o) => gql(node.apiUrl, q, v, { apiKey: o && 'apiKey' in o ? o.apiKey : node.apiKey }),
    apiKey: node.apiKey,
    auth: { authorization: `Bearer ${node.apiKey}` },
    close: async () => {
      for (const p of providers) await p.close().catch(() => undefined);
      await node.close();
      await db.drop();
    },
  };
}

/** Polls a job until it leaves QUEUED/RUNNING and returns it with its subtasks and attempts. */
export async function waitForJob(market: TestMarket, id: string, timeoutMs = 90_000): Promise<any> {
  let last: any;
  try {
    return await vi.waitUntil(
      async () => {
        last = await getJob(market, id);
        return !['QUEUED', 'RUNNING'].includes(last.status) && last;
      },
      { timeout: timeoutMs, interval: 300 },
    );
  } catch (e) {
    if (!last || ['QUEUED', 'RUNNING'].includes(last.status)) throw new Error(`job ${id} still ${last?.status} after ${timeoutMs} ms: ${JSON.stringify(last?.progress)}`);
    throw e;
  }
}

export const JOB_QUERY = /* GraphQL */ `
  query Job($id: ID!) {
    job(id: $id) {
      id status error subtaskCount succeededCount failedCount temporalUiUrl
      progress { phase total running succeeded failed }
      result { value ref url }
      subtasks(first: 500) {
        nodes {
          index status exitCode error note resultRef attemptCount durationSeconds params
          provider { id }
          agreement { id providerId state price { start cpuSecond envSecond } explanation decisionReason endedBy endReason }
          agreements { id providerId state decisionReason }
          attempts { number copy providerId status verdict resultKey exitCode failureType reason stdoutTail stderrTail cpuSeconds wallSeconds }
          votes
        }
      }
    }
  }
`;

/** A job as JOB_QUERY reads it, its subtasks (the first 500) as a plain list. */
export async function getJob(market: TestMarket, id: string): Promise<any> {
  const { job } = await market.gql(JOB_QUERY, { id });
  return job && { ...job, subtasks: job.subtasks.nodes };
}

export const SUBMIT = /* GraphQL */ `
  mutation Submit($spec: JSON, $specText: String) {
    submitJob(spec: $spec, specText: $specText) { job { id status } }
  }
`;

/** Submits a spec and returns the job id. */
export async function submit(market: TestMarket, spec: unknown): Promise<string> {
  const r = await market.gql(SUBMIT, { spec });
  return r.submitJob.job.id;
}
