/**
 * npm run keys -- create <requestor> [--label text]: makes an API key for a requestor on this
 * node (the operator's tool: it opens the node's database, as the requestor node does, with
 * DATABASE_URL or GOLEMFLOW_DATA). The key is printed once; only its hash is stored.
 */
import path from 'node:path';
import { Command } from 'commander';
import { issueApiKey } from '../api/auth.js';
import { loadConfig } from '../infra/config.js';
import { openDatabase } from '../schema/db.js';

const program = new Command('keys').description("requestors' API keys on this node");
program
  .command('create <requestor>')
  .description('make an API key naming <requestor>; print it (it is not shown again)')
  .option('--label <text>', 'what the key is for')
  .action(async (requestor: string, o: { label?: string }) => {
    const config = loadConfig();
    const database = await openDatabase({ url: config.databaseUrl, dataDir: path.join(config.dataDir, 'pglite') });
    try {
      const key = await issueApiKey(database.db, requestor, o.label);
      console.log(key);
      console.error(`an API key for ${requestor}: send it as "Authorization: Bearer <key>" (golemflow reads GOLEMFLOW_API_KEY)`);
    } finally {
      await database.close();
    }
  });
program.parseAsync().catch((e) => {
  console.error(`keys: ${(e as Error).message}`);
  process.exit(2);
});
