/**
 * Opens the requestor node's database and applies the committed migrations.
 * `DATABASE_URL` selects PostgreSQL; without it an embedded PGlite database lives under
 * `.data/pglite` so the demo needs no database server.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
  const client = new PGlite(dataDir);
  try {
    const db = drizzle(client, { schema: tables });
    await migrate(db, { migrationsFolder });
    return { db: db as unknown as Db, location: dataDir, close: () => client.close() };
  } catch (e) {
    await client.close();
    throw e;
  }
}
