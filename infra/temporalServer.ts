/**
 * The Temporal CLI's dev server. No binary can be downloaded here, so the CLI is built from
 * the Go module proxy once and cached outside the work tree (CI clones afresh every time).
 */
import { Connection } from '@temporalio/client';
import { ensureSearchAttributes } from './searchAttributes.js';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { executable, GO_BIN_CACHE, goInstallCached } from './goBinaries.js';
import { portOpen, spawnDetached, waitFor } from './processes.js';

const run = promisify(execFile);
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const cached = path.join(GO_BIN_CACHE, `temporal-${TEMPORAL_CLI_VERSION}`);

/** Finds the Temporal CLI (TEMPORAL_CLI, .tools/bin, the cache, PATH) or builds it with Go. */
export async function ensureTemporalCli(log: (m: string) => void = () => {}): Promise<string> {
  const local = path.resolve('.tools/bin/temporal');
  for (const p of [process.env.TEMPORAL_CLI, local, cached]) if (p && (await executable(p))) return p;
  try {
    const { stdout } = await run('which', ['temporal']);
    if (stdout.trim()) return stdout.trim();
  } catch {
    // not on PATH
  }
  const go = await run('go', ['version']).catch(() => undefined);
  if (!go)
    throw new Error(
      'the Temporal CLI is missing and Go is not installed to build it. Install Go (https://go.dev/dl) and run ' +
        `"GOBIN=$PWD/.tools/bin go install github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}", ` +
        'or install the Temporal CLI and set TEMPORAL_CLI to its path.',
    );
  log(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} from the Go module proxy (once; takes a few minutes)…`);
  await goInstallCached('github.com/temporalio/cli/cmd/temporal', TEMPORAL_CLI_VERSION, 'temporal', cached);
  log(`Temporal CLI cached at ${cached}`);
  return cached;
}

export interface TemporalServerOptions {
  host?: string;
  port: number;
  uiPort?: number;
  /** SQLite file; omitted means in memory. */
  dbFile?: string;
  logFile: string;
  log?: (m: string) => void;
  /** Server dynamic config, e.g. a low `limit.historyCount.suggestContinueAsNew` for tests. */
  dynamicConfig?: Record<string, string | number>;
}

/** Reuses the dev server on host:port or starts one (detached, so it outlives this process). */
export async function ensureTemporalServer(o: TemporalServerOptions): Promise<{ address: string; uiUrl: string; started: boolean; pid?: number }> {
  const host = o.host ?? '127.0.0.1';
  const uiPort = o.uiPort ?? o.port + 1000;
  const address = `${host}:${o.port}`;
  const uiUrl = `http://${host}:${uiPort}`;
  if (await portOpen(host, o.port)) {
    await registerSearchAttributes(address);
    return { address, uiUrl, started: false };
  }
  const cli = await ensureTemporalCli(o.log);
  const args = ['server', 'start-dev', '--ip', host, '--port', String(o.port), '--ui-port', String(uiPort), '--log-level', 'warn'];
  if (o.dbFile) {
    await fs.mkdir(path.dirname(o.dbFile), { recursive: true });
    args.push('--db-filename', o.dbFile);
  }
  for (const [k, v] of Object.entries(o.dynamicConfig ?? {})) args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  o.log?.(`starting the Temporal dev server on ${address} (UI ${uiUrl})`);
  const pid = await spawnDetached(cli, args, o.logFile);
  await waitFor(`Temporal dev server on ${address} (log: ${o.logFile})`, () => portOpen(host, o.port), 60_000);
  await registerSearchAttributes(address);
  return { address, uiUrl, started: true, pid };
}

/** The job search attributes, so workflows that set them run on this server (adapters/searchAttributes.ts). */
async function registerSearchAttributes(address: string, namespace = 'default'): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    await ensureSearchAttributes(connection, namespace);
  } finally {
    await connection.close();
  }
}
