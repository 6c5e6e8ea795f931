/**
 * Temporal's own server (not the CLI's dev server) on PostgreSQL: persistence and visibility in
 * databases of their own, four history shards. The server and its schema tool are built once
 * from the Go module proxy (go.temporal.io/server, whose go.mod has no replace directive) and
 * cached beside the CLI; the schema is made and upgraded idempotently at every start (the tool
 * applies only what a database lacks). The config is the one the module ships
 * (config/development-postgres12.yaml), given this machine's user, ports and folders.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { executable, GO_BIN_CACHE, goInstallCached } from './goBinaries.js';
import { ensureTemporalCli } from './temporalServer.js';
import { portOpen, spawnDetached, waitFor } from './processes.js';

const run = promisify(execFile);
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const MODULE = 'go.temporal.io/server';

/** Builds (once) and returns the server and its SQL schema tool. */
export async function ensureTemporalServerBinaries(log: (m: string) => void = () => {}): Promise<{ server: string; sqlTool: string }> {
  const server = path.join(GO_BIN_CACHE, `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  const sqlTool = path.join(GO_BIN_CACHE, `temporal-sql-tool-${TEMPORAL_SERVER_VERSION}`);
  for (const [target, pkg, built] of [
    [server, `${MODULE}/cmd/server`, 'server'],
    [sqlTool, `${MODULE}/cmd/tools/sql`, 'sql'],
  ] as const) {
    if (await executable(target)) continue;
    log(`building ${pkg}@${TEMPORAL_SERVER_VERSION} from the Go module proxy (once; a few minutes)…`);
    await goInstallCached(pkg, TEMPORAL_SERVER_VERSION, built, target);
  }
  return { server, sqlTool };
}

export interface TemporalClusterOptions {
  /** Frontend gRPC port; the other services take the next ports (history +1, matching +2, worker +6, membership +1000…). */
  port: number;
  /** Where the config and logs live. */
  dir: string;
  postgres: { host: string; port: number; user: string; password: string };
  /** Database names (made if missing). */
  databases?: { persistence: string; visibility: string };
  shards?: number;
  log?: (m: string) => void;
}

/** Where Temporal's own server keeps its databases: a PostgreSQL URL's host, port, user and password. */
export function postgresOf(url: string): TemporalClusterOptions['postgres'] {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username || 'postgres'), password: decodeURIComponent(u.password) };
}

/** Makes both databases and brings their schemas to this version (each step skips what is done). */
export async function setupTemporalSchema(sqlTool: string, o: TemporalClusterOptions): Promise<void> {
  const dbs = o.databases ?? { persistence: 'temporal', visibility: 'temporal_visibility' };
  const base = ['--plugin', 'postgres12', '--endpoint', o.postgres.host, '--port', String(o.postgres.port), '--user', o.postgres.user, '--password', o.postgres.password];
  for (const [db, schema] of [
    [dbs.persistence, 'postgresql/v12/temporal'],
    [dbs.visibility, 'postgresql/v12/visibility'],
  ] as const) {
    const tool = (...args: string[]) => run(sqlTool, [...base, '--database', db, ...args], { maxBuffer: 16 * 1024 * 1024 });
    await tool('create-database').catch((e: { stderr?: string; message: string }) => {
      if (!/already exists/i.test(`${e.stderr ?? ''} ${e.message}`)) throw e;
    });
    // A fresh database gets the version table; one that has it keeps it.
    await tool('setup-schema', '--version', '0.0').catch((e: { stderr?: string; message: string }) => {
      if (!/already exists/i.test(`${e.stderr ?? ''} ${e.message}`)) throw e;
    });
    await tool('update-schema', '--schema-name', schema);
  }
}

/** The module's PostgreSQL config with this machine's user, ports, shards and folders. */
async function writeConfig(o: TemporalClusterOptions): Promise<string> {
  const { stdout: modDir } = await run('go', ['list', '-m', '-f', '{{.Dir}}', `${MODULE}@${TEMPORAL_SERVER_VERSION}`], { env: { ...process.env, GOFLAGS: '-mod=mod' }, cwd: os.tmpdir() });
  const shipped = await fs.readFile(path.join(modDir.trim(), 'config', 'development-postgres12.yaml'), 'utf8');
  const dynamic = await fs.readFile(path.join(modDir.trim(), 'config', 'dynamicconfig', 'development-sql.yaml'), 'utf8');
  const dbs = o.databases ?? { persistence: 'temporal', visibility: 'temporal_visibility' };
  const p = o.port;
  // Membership ports at +3000 (not the shipped +1000 below 7233's range): port + 1000 is the UI's, as on the dev server.
  const ports: Record<string, number> = { '7233': p, '7234': p + 1, '7235': p + 2, '7239': p + 6, '7243': p + 10, '6933': p + 3000, '6934': p + 3001, '6935': p + 3002, '6939': p + 3006, '7936': p + 2000, '8000': p + 2001 };
  let config = shipped
    .replace(/numHistoryShards: \d+/, `numHistoryShards: ${o.shards ?? 4}`)
    .replace(/databaseName: "temporal"/, `databaseName: "${dbs.persistence}"`)
    .replace(/databaseName: "temporal_visibility"/, `databaseName: "${dbs.visibility}"`)
    .replace(/connectAddr: "127\.0\.0\.1:5432"/g, `connectAddr: "${o.postgres.host}:${o.postgres.port}"`)
    .replace(/user: "temporal"/g, `user: "${o.postgres.user}"`)
    .replace(/password: "temporal"/g, `password: "${o.postgres.password}"`)
    .replace(/(grpcPort|membershipPort|httpPort|port): (\d+)/g, (m, key: string, port: string) => (ports[port] ? `${key}: ${ports[port]}` : m))
    .replace(/listenAddress: "127\.0\.0\.1:8000"/, `listenAddress: "127.0.0.1:${ports['8000']}"`)
    .replace(/rpcAddress: "localhost:7233"/, `rpcAddress: "localhost:${p}"`)
    .replace(/filepath: "config\/dynamicconfig\/development-sql\.yaml"/, `filepath: "${path.join(o.dir, 'config', 'dynamicconfig', 'development-sql.yaml')}"`)
    .replace(/level: info/, 'level: warn');
  config = config.replace(/URI: "file:\/\/\/tmp\/temporal_(vis_)?archival\/development"/g, (_m, vis?: string) => `URI: "file://${path.join(o.dir, vis ? 'vis-archival' : 'archival')}"`);
  await fs.mkdir(path.join(o.dir, 'config', 'dynamicconfig'), { recursive: true });
  await fs.writeFile(path.join(o.dir, 'config', 'development-postgres12.yaml'), config);
  await fs.writeFile(path.join(o.dir, 'config', 'dynamicconfig', 'development-sql.yaml'), dynamic);
  return path.join(o.dir, 'config');
}

/**
 * Reuses a Temporal server on the port or starts one (detached, so it outlives this process):
 * schema first, then the server, then the `default` namespace (the dev server makes it itself).
 */
export async function ensureTemporalCluster(o: TemporalClusterOptions): Promise<{ address: string; started: boolean; pid?: number }> {
  const address = `127.0.0.1:${o.port}`;
  if (await portOpen('127.0.0.1', o.port)) return { address, started: false };
  const { server, sqlTool } = await ensureTemporalServerBinaries(o.log);
  o.log?.('making and upgrading the Temporal schema in PostgreSQL');
  await setupTemporalSchema(sqlTool, o);
  const configDir = await writeConfig(o);
  o.log?.(`starting Temporal's server on ${address} (PostgreSQL, ${o.shards ?? 4} history shards)`);
  const pid = await spawnDetached(server, ['--root', o.dir, '--config', path.relative(o.dir, configDir), '--env', 'development-postgres12', '--allow-no-auth', 'start'], path.join(o.dir, 'temporal-server.log'));
  await waitFor(`Temporal's server on ${address} (log: ${path.join(o.dir, 'temporal-server.log')})`, () => portOpen('127.0.0.1', o.port), 120_000);
  const cli = await ensureTemporalCli(o.log);
  await waitFor(
    'the default namespace',
    async () => {
      try {
        await run(cli, ['operator', 'namespace', 'create', '--namespace', 'default', '--address', address, '--retention', '72h']);
        return true;
      } catch (e) {
        return /already exists|AlreadyExists/i.test(`${(e as { stderr?: string }).stderr ?? ''}`);
      }
    },
    120_000,
    1000,
  );
  return { address, started: true, pid };
}
