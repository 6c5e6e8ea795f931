/** Scratch resources for trials and tests run outside vitest too: a free port, a database of their own. */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../schema/db.js';

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Creates an empty database `name` on the server of `adminUrl`; `drop` removes it. */
export async function scratchDatabase(adminUrl: string, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const d = new pg.Client({ connectionString: adminUrl });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    },
  };
}

/** A migrated PGlite database in a scratch folder; `close` closes it (an open PGlite keeps Node alive) and removes the folder. */
export interface ScratchPglite {
  database: Database;
  close(): Promise<void>;
}

export async function scratchPglite(prefix: string): Promise<ScratchPglite> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  const database = await openDatabase({ dataDir: path.join(dir, 'pglite') }).catch(async (e) => {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  });
  return {
    database,
    close: async () => {
      await database.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
