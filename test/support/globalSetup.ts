/**
 * Brings up the real components once for the whole run: the Temporal dev server (in memory, on
 * its own port), PostgreSQL, the Docker engine and the runtime images, and an Anvil chain. Whatever it started, it
 * stops at the end; whatever was already running, it leaves alone.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { ensureAnvil } from '../../infra/anvil.js';
import { ensureDocker } from '../../infra/docker.js';
import { waitFor } from '../../infra/processes.js';
import { ensureTemporalServer } from '../../infra/temporalServer.js';
import { ensureAllRuntimes } from '../../runtimes/build.js';

const run = promisify(execFile);
/** History events after which the tests' server suggests continue-as-new (the default is thousands). */
export const HISTORY_SUGGEST_CONTINUE_AS_NEW = 300;
const log = (m: string) => console.log(`[setup] ${m}`);

async function postgresUp(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function ensurePostgres(url: string): Promise<void> {
  if (await postgresUp(url)) return;
  log('PostgreSQL is not answering; starting the local cluster');
  const { stdout } = await run('ls', ['/etc/postgresql']).catch(() => ({ stdout: '' }));
  const version = stdout.trim().split('\n')[0];
  if (!version) throw new Error(`PostgreSQL is not reachable at ${url} and no local cluster is installed; set TEST_DATABASE_URL`);
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
  await waitFor(`PostgreSQL at ${url}`, () => postgresUp(url), 30_000);
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    /** The server's `limit.historyCount.suggestContinueAsNew` (events), for the test of the rollover. */
    historySuggestContinueAsNew: number;
    adminDatabaseUrl: string;
    chainRpcUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const dataDir = path.resolve('.data/test');
  const adminDatabaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  await ensurePostgres(adminDatabaseUrl);
  const docker = await ensureDocker(path.join(dataDir, 'dockerd.log'), log);
  await ensureAllRuntimes(docker, { workDir: path.join(dataDir, 'runtimes'), log });
  const port = Number(process.env.TEST_TEMPORAL_PORT ?? 17233);
  // A low history limit makes big jobs continue as new within a test's size (see workflows.test.ts).
  const temporal = await ensureTemporalServer({
    port,
    logFile: path.join(dataDir, 'temporal.log'),
    log,
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': HISTORY_SUGGEST_CONTINUE_AS_NEW },
  });
  const anvil = await ensureAnvil({ port: Number(process.env.TEST_ANVIL_PORT ?? 18545), logFile: path.join(dataDir, 'anvil.log'), log });
  project.provide('chainRpcUrl', anvil.rpcUrl);
  project.provide('temporalAddress', temporal.address);
  project.provide('historySuggestContinueAsNew', HISTORY_SUGGEST_CONTINUE_AS_NEW);
  project.provide('adminDatabaseUrl', adminDatabaseUrl);
  return async () => {
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
    if (anvil.pid) process.kill(anvil.pid, 'SIGTERM');
  };
}
