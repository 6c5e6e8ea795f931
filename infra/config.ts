/** The node's settings, from the environment, with defaults that work on one machine. */
import path from 'node:path';

export interface Config {
  temporalAddress: string;
  temporalNamespace: string;
  temporalUiUrl: string;
  requestorTaskQueue: string;
  databaseUrl: string | undefined;
  dataDir: string;
  apiPort: number;
  apiHost: string;
  /** The address providers use to reach this node's API and blobs. */
  publicApiUrl: string;
  providerLivenessMs: number;
  /** Between sweeps for agreements that outlived their reason (workers/sweeper.ts). */
  sweepIntervalMs: number;
  /** Agreements and jobs younger than this are left to their workflows by the sweeper's look at Temporal. */
  sweepGraceMs: number;
  /** Hard limits on what any caller may send (each refused with a clear error). */
  limits: {
    graphqlDepth: number;
    graphqlAliases: number;
    graphqlTokens: number;
    graphqlCost: number;
    /** A GraphQL request's body. */
    bodyBytes: number;
    /** One blob, counted on the bytes as they stream. */
    blobBytes: number;
    /** Jobs one requestor may have queued or running at once. */
    activeJobsPerRequestor: number;
    /** What one requestor's own uploads may hold in all (its jobs' outputs do not count). */
    blobBytesPerRequestor: number;
    /** What a provider may upload under one agreement (its run's stdout and /out). */
    uploadBytesPerAgreement: number;
  };
  /** Web origins allowed to call the API from a browser (CORS); empty: none. */
  corsOrigins: string[];
  /** Who this node's jobs are for, as providers' policies see it. */
  requestorId: string;
  /** Where GLM payments go: an EVM JSON-RPC endpoint (local: Anvil, started by the stack). */
  chain: {
    rpcUrl: string;
    network: string;
    /** The requestor's wallet key (local: Anvil's first development account). */
    privateKey: string;
    confirmations: number;
    replaceAfterMs: number;
    escrowAddress?: string;
  };
}

/** Anvil's first development account: holds test ETH on the local chain only. */
export const ANVIL_FIRST_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.GOLEMFLOW_DATA ?? '.data');
  const apiPort = Number(env.API_PORT ?? 4000);
  const apiHost = env.API_HOST ?? '127.0.0.1';
  const temporalAddress = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const uiPort = Number(temporalAddress.split(':').pop()) + 1000;
  return {
    temporalAddress,
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    temporalUiUrl: env.TEMPORAL_UI_URL ?? `http://${temporalAddress.split(':')[0]}:${uiPort}`,
    requestorTaskQueue: env.REQUESTOR_TASK_QUEUE ?? 'golemflow.requestor',
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir,
    apiPort,
    apiHost,
    publicApiUrl: env.PUBLIC_API_URL ?? `http://${apiHost === '0.0.0.0' ? '127.0.0.1' : apiHost}:${apiPort}`,
    providerLivenessMs: Number(env.PROVIDER_LIVENESS_MS ?? 15_000),
    sweepIntervalMs: Number(env.SWEEP_INTERVAL_MS ?? 5_000),
    sweepGraceMs: Number(env.SWEEP_GRACE_MS ?? 30_000),
    limits: {
      graphqlDepth: Number(env.GRAPHQL_MAX_DEPTH ?? 12),
      graphqlAliases: Number(env.GRAPHQL_MAX_ALIASES ?? 30),
      graphqlTokens: Number(env.GRAPHQL_MAX_TOKENS ?? 5000),
      // graphql-armor multiplies a field's cost by 1.5 at each level, and a connection is a level
      // (nodes): the CLI's job report (job > subtasks > nodes > attempts) costs about 53,000, a
      // job with every subtask's agreement and attempts about 111,000. Depth (12) and tokens
      // (5000) bound the rest.
      graphqlCost: Number(env.GRAPHQL_MAX_COST ?? 250_000),
      bodyBytes: Number(env.MAX_BODY_BYTES ?? 1024 * 1024),
      blobBytes: Number(env.MAX_BLOB_BYTES ?? 4 * 1024 ** 3),
      activeJobsPerRequestor: Number(env.MAX_ACTIVE_JOBS ?? 100),
      blobBytesPerRequestor: Number(env.MAX_REQUESTOR_BLOB_BYTES ?? 20 * 1024 ** 3),
      uploadBytesPerAgreement: Number(env.MAX_AGREEMENT_UPLOAD_BYTES ?? 2 * 1024 ** 3),
    },
    corsOrigins: (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    requestorId: env.GOLEMFLOW_REQUESTOR_ID ?? 'requestor',
    chain: {
      rpcUrl: env.CHAIN_RPC_URL ?? 'http://127.0.0.1:8545',
      network: env.CHAIN_NETWORK ?? 'local',
      privateKey: env.REQUESTOR_PRIVATE_KEY ?? ANVIL_FIRST_KEY,
      confirmations: Number(env.PAYMENT_CONFIRMATIONS ?? ((env.CHAIN_NETWORK ?? 'local') === 'local' ? 1 : 12)),
      replaceAfterMs: Number(env.PAYMENT_REPLACE_AFTER_MS ?? 60_000),
      escrowAddress: env.ESCROW_ADDRESS || undefined,
    },
  };
}

/** A provider's task queue: each provider polls only its own. */
export function providerTaskQueue(providerId: string): string {
  return `provider.${providerId}`;
}

/** Where the Temporal UI shows a workflow. */
export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
