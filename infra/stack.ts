/**
 * The whole local stack, started idempotently: the Temporal dev server (SQLite file under
 * .data/, UI on), the Docker engine, the runtime images, the requestor node (API + workflows;
 * PGlite under .data/ unless DATABASE_URL is set) and N local providers. Each process is
 * detached, with a pid file and a log under .data/, so `stack down` can stop it later and a
 * second `stack up` reuses what already runs.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureAllRuntimes } from '../runtimes/build.js';
import { loadConfig, type Config } from './config.js';
import { ensureAnvil } from './anvil.js';
import { ensureDocker } from './docker.js';
import { gql } from './graphqlClient.js';
import { ensureTemporalCluster, postgresOf } from './temporalCluster.js';
import { ensureTemporalUi } from './temporalUi.js';
import { nodeKeyFile, readNodeKey } from '../api/auth.js';
import { portOpen, processAlive, spawnDetached, waitFor } from './processes.js';
import { ensureTemporalServer } from './temporalServer.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface StackInfo {
  apiUrl: string;
  graphqlUrl: string;
  temporalAddress: string;
  temporalUiUrl: string;
  chainRpcUrl: string;
  providers: string[];
  /** The node's own requestor key (<data>/requestor.key): what the demo and the CLI call with. */
  apiKey: string;
  config: Config;
}

type Log = (m: string) => void;

function dirs(config: Config) {
  return { run: path.join(config.dataDir, 'run'), logs: path.join(config.dataDir, 'logs') };
}

async function readPid(file: string): Promise<number | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return pid > 0 && processAlive(pid) ? pid : undefined;
}

/** Starts a project process unless its pid file names a live one. */
async function ensureProcess(config: Config, name: string, script: string, args: string[], env: NodeJS.ProcessEnv, log: Log): Promise<boolean> {
  const { run, logs } = dirs(config);
  await fs.mkdir(run, { recursive: true });
  const pidFile = path.join(run, `${name}.pid`);
  if (await readPid(pidFile)) return false;
  const logFile = path.join(logs, `${name}.log`);
  log(`starting ${name} (log: ${path.relative(process.cwd(), logFile)})`);
  const pid = await spawnDetached(process.execPath, ['--import', 'tsx', path.join(root, script), ...args], logFile, { ...process.env, ...env });
  await fs.writeFile(pidFile, String(pid));
  return true;
}

const providerName = (i: number) => `local-${i}`;
/** Local providers take turns at the built-in presets, so the demo market has different prices. */
/** Where the stack's providers serve their metrics: 9101, 9102, … */
export const PROVIDER_METRICS_BASE_PORT = 9101;
const PRESETS = ['default', 'budget', 'premium'];

/** Brings the stack up (reusing what runs) and returns its addresses once every part answers. */
export async function stackUp(opts: { providers: number; dishonest?: number; log?: Log; config?: Config; temporal?: 'dev' | 'server' }): Promise<StackInfo> {
  const log = opts.log ?? (() => {});
  const config = opts.config ?? loadConfig();
  const { run, logs } = dirs(config);
  const [host, port] = [config.temporalAddress.split(':')[0], Number(config.temporalAddress.split(':')[1])];
  // The dev server (zero set-up, one SQLite file) or Temporal's own server on PostgreSQL.
  const temporal =
    opts.temporal === 'server'
      ? await ensureTemporalCluster({ port, dir: path.join(config.dataDir, 'temporal-server'), postgres: postgresOf(process.env.TEMPORAL_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432'), log })
      : await ensureTemporalServer({ host, port, dbFile: path.join(config.dataDir, 'temporal', 'temporal.db'), logFile: path.join(logs, 'temporal.log'), log });
  await fs.mkdir(run, { recursive: true });
  if (temporal.pid) await fs.writeFile(path.join(run, 'temporal.pid'), String(temporal.pid));
  if (opts.temporal === 'server') {
    // Temporal's own server has no UI of its own: the UI server, on the port the dev server's UI uses.
    const ui = await ensureTemporalUi({ address: config.temporalAddress, uiPort: Number(new URL(config.temporalUiUrl).port), dir: path.join(config.dataDir, 'temporal-ui'), log });
    if (ui.pid) await fs.writeFile(path.join(run, 'temporal-ui.pid'), String(ui.pid));
  }
  // The local chain for GLM payments (a configured real network is used as it is).
  const rpc = new URL(config.chain.rpcUrl);
  if (config.chain.network === 'local' && ['127.0.0.1', 'localhost'].includes(rpc.hostname)) {
    await fs.mkdir(path.join(config.dataDir, 'anvil'), { recursive: true });
    const anvil = await ensureAnvil({ port: Number(rpc.port || 8545), logFile: path.join(logs, 'anvil.log'), stateFile: path.join(config.dataDir, 'anvil', 'state.json'), log });
    if (anvil.pid) await fs.writeFile(path.join(run, 'anvil.pid'), String(anvil.pid));
  }
  const docker = await ensureDocker(path.join(logs, 'dockerd.log'), log);
  const images = await ensureAllRuntimes(docker, { workDir: path.join(config.dataDir, 'runtimes'), log });
  log(`runtime images: ${images.map((i) => i.tag).join(', ')}`);

  const apiUp = () => fetch(`${config.publicApiUrl}/health`).then((r) => r.ok, () => false);
  if (!(await apiUp())) {
    if (await portOpen(config.apiHost, config.apiPort)) throw new Error(`port ${config.apiPort} is taken by something that is not a Golemflow API; set API_PORT`);
    await ensureProcess(config, 'requestor', 'workers/requestor.ts', [], { TEMPORAL_LOG_LEVEL: 'ERROR' }, log);
    await waitFor(`the requestor node at ${config.publicApiUrl} (log: ${path.join(logs, 'requestor.log')})`, apiUp, 60_000);
  }
  const apiKey = await readNodeKey(config.dataDir);
  if (!apiKey) throw new Error(`the requestor node wrote no API key to ${nodeKeyFile(config.dataDir)} (log: ${path.join(logs, 'requestor.log')})`);
  const honest = Array.from({ length: opts.providers }, (_, i) => providerName(i + 1));
  // Dishonest providers, for demos: named so, and they say so loudly in their logs.
  const dishonest = Array.from({ length: opts.dishonest ?? 0 }, (_, i) => `dishonest-${i + 1}`);
  const names = [...honest, ...dishonest];
  for (const [i, name] of names.entries()) {
    await ensureProcess(
      config,
      `provider-${name}`,
      'workers/provider.ts',
      [
        '--name', name, '--cpus', '1', '--memory', '1g', '--preset', PRESETS[i % PRESETS.length], '--api', config.publicApiUrl, '--temporal', config.temporalAddress, '--no-build-runtimes',
        // Prometheus metrics of provider i at 127.0.0.1:9101+i (the requestor's are at the API's /metrics).
        '--metrics', `127.0.0.1:${PROVIDER_METRICS_BASE_PORT + i}`,
        ...(dishonest.includes(name) ? ['--test-misbehave', 'wrong-output'] : []),
      ],
      { TEMPORAL_LOG_LEVEL: 'ERROR' },
      log,
    );
  }
  await waitFor(
    `${names.length} providers to check in (logs: ${path.join(logs, 'provider-*.log')})`,
    async () => {
      const providers = (await gql<{ providers: { nodes: Array<{ id: string }> } }>(config.publicApiUrl, '{ providers(first: 500, filter: { onlineOnly: true }) { nodes { id } } }')).providers.nodes;
      return names.every((n) => providers.some((p) => p.id === n));
    },
    90_000,
    500,
  );
  return {
    apiUrl: config.publicApiUrl,
    graphqlUrl: `${config.publicApiUrl}/graphql`,
    temporalAddress: config.temporalAddress,
    temporalUiUrl: config.temporalUiUrl,
    chainRpcUrl: config.chain.rpcUrl,
    providers: names,
    apiKey,
    config,
  };
}

/** Stops every process the stack started (providers first, Temporal last); dockerd is left running. */
export async function stackDown(opts: { log?: Log; config?: Config } = {}): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const config = opts.config ?? loadConfig();
  const { run } = dirs(config);
  const files = (await fs.readdir(run).catch(() => [] as string[])).filter((f) => f.endsWith('.pid'));
  const order = (f: string) => (f.startsWith('provider-') ? 0 : f.startsWith('requestor') ? 1 : 2);
  files.sort((a, b) => order(a) - order(b));
  const stopped: string[] = [];
  for (const f of files) {
    const pid = await readPid(path.join(run, f));
    const name = f.replace(/\.pid$/, '');
    if (pid) {
      log(`stopping ${name} (pid ${pid})`);
      process.kill(pid, 'SIGTERM');
      await waitFor(`${name} to stop`, async () => !processAlive(pid), 20_000).catch(() => process.kill(pid, 'SIGKILL'));
      stopped.push(name);
    }
    await fs.rm(path.join(run, f), { force: true });
  }
  return stopped;
}

/** What runs now, by pid file. */
export async function stackStatus(config: Config = loadConfig()): Promise<Array<{ name: string; pid: number | undefined }>> {
  const { run } = dirs(config);
  const files = (await fs.readdir(run).catch(() => [] as string[])).filter((f) => f.endsWith('.pid'));
  return Promise.all(files.map(async (f) => ({ name: f.replace(/\.pid$/, ''), pid: await readPid(path.join(run, f)) })));
}
