/**
 * Where a requestor node keeps the API key of its own requestor (`<GOLEMFLOW_DATA>/requestor.key`,
 * mode 0600), for the demo, the CLI and the SDK on the same machine. Reading it needs no database.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

/** Where a node keeps the key of its own requestor. */
export const nodeKeyFile = (dataDir: string) => path.join(dataDir, 'requestor.key');

/** The node's own key from its data folder, if one was written. */
export async function readNodeKey(dataDir: string): Promise<string | undefined> {
  return (await fs.readFile(nodeKeyFile(dataDir), 'utf8').catch(() => '')).trim() || undefined;
}
