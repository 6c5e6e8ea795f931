/**
 * The bench's providers in a process of their own, as they would be on other people's machines:
 * in the bench's process their signing, Docker calls and polling shared one event loop with the
 * requestor node, which then measured a market whose requestor also did every provider's work.
 *
 *   tsx bench/providerHost.ts '{"count":20,"apiUrl":"…","temporalAddress":"…","workDir":"…"}'
 *
 * Prints "ready" once every provider is online; closes them on SIGTERM.
 */
import { startProviderNode, type ProviderNode } from '../workers/provider.js';
import { benchProvider } from './setup.js';

interface HostOptions {
  count: number;
  apiUrl: string;
  temporalAddress: string;
  workDir: string;
}

const o = JSON.parse(process.argv[2] ?? '{}') as HostOptions;
const nodes: ProviderNode[] = [];

async function main() {
  for (let i = 0; i < o.count; i++) nodes.push(await startProviderNode(benchProvider(i, o)));
  process.stdout.write('ready\n');
}

process.on('SIGTERM', () => {
  void Promise.all(nodes.map((n) => n.close())).finally(() => process.exit(0));
});

main().catch((e) => {
  console.error(`provider host failed: ${(e as Error).message}`);
  process.exit(1);
});
