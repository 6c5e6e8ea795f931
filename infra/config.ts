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
  /** Who this node's jobs are for, as providers' policies see it. */
  requestorId: string;
}

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
    requestorId: env.GOLEMFLOW_REQUESTOR_ID ?? 'requestor',
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
