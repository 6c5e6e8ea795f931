/**
 * Opens the requestor node's database and applies the committed migrations.
 * `DATABASE_URL` selects PostgreSQL; without it an embedded PGlite database lives under
 * `.data/pglite` so the demo needs no database server.
 */
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { tables } from './tables.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof tables>;

export interface Database {
  db: Db;
  /** Where it lives, for logs: a URL without its password, or a folder. */
  location: string;
  close(): Promise<void>;
}

const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres';
  }
}

/** Opens PostgreSQL at `url`, or PGlite in `dataDir` when no url is given, and migrates it. */
export async function openDatabase(opts: { url?: string; dataDir?: string } = {}): Promise<Database> {
  if (opts.url) {
    const pg = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const { migrate } = await import('drizzle-orm/node-postgres/migrator');
    const pool = new pg.default.Pool({ connectionString: opts.url, max: 10 });
    // An idle connection the server drops (restart, dropped database) must not crash the node.
    pool.on('error', (e) => console.warn(`database connection lost: ${e.message}`));
    const db = drizzle(pool, { schema: tables });
    await migrate(db, { migrationsFolder });
    return { db: db as unknown as Db, location: redact(opts.url), close: () => pool.end() };
  }
  const dataDir = opts.dataDir ?? path.resolve('.data/pglite');
  await mkdir(dataDir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) await initPgliteDataDir(dataDir);
  const client = new PGlite(dataDir, { startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`] });
  try {
    const db = drizzle(client, { schema: tables });
    await migrate(db, { migrationsFolder });
    return { db: db as unknown as Db, location: dataDir, close: () => client.close() };
  } catch (e) {
    await client.close();
    throw e;
  }
}

/**
 * PGlite's shared buffers (its default is PostgreSQL's 128MB, all of it resident once touched).
 * A requestor node's tables are small and the operating system caches their files too: 32MB
 * kept an idle node about 100 MiB smaller, with no slower job in bench:scale.
 */
const PGLITE_SHARED_BUFFERS = '32MB';

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/**
 * Makes a new PGlite data directory in a worker thread. initdb runs in a WebAssembly instance
 * of its own whose memory PGlite never gives back: made on the node's own thread, about 450 MiB
 * stayed resident for the node's whole life (an idle requestor node at 1.15 GiB, most of it
 * this). A worker's memory goes with it when it exits.
 */
async function initPgliteDataDir(dataDir: string): Promise<void> {
  const code = `const { workerData } = require('node:worker_threads');
import(workerData.module).then(async ({ PGlite }) => { const db = new PGlite(workerData.dataDir); await db.waitReady; await db.close(); });`;
  await new Promise<void>((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { dataDir, module: import.meta.resolve('@electric-sql/pglite') } });
    worker.once('error', (e) => reject(new Error(`could not create the PGlite database in ${dataDir}: ${e.message}`)));
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`could not create the PGlite database in ${dataDir} (its worker exited with code ${code})`))));
  });
}
