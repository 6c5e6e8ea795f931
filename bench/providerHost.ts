/**
 * The bench's providers in a process of their own, as they would be on other people's machines:
 * in the bench's process their signing, Docker calls and polling shared one event loop with the
 * requestor node, which then measured a market whose requestor also did every provider's work.
 *
 *   tsx bench/providerHost.ts '{"count":20,"apiUrl":"…","temporalAddress":"…","workDir":"…"}'
 *
 * Prints "ready" once every provider is online; closes them on SIGTERM.
 */
import path from 'node:path';
import { startProviderNode, type ProviderNode } from '../workers/provider.js';

interface HostOptions {
  count: number;
  apiUrl: string;
  temporalAddress: string;
  workDir: string;
}

const o = JSON.parse(process.argv[2] ?? '{}') as HostOptions;
const nodes: ProviderNode[] = [];

async function main() {
  for (let i = 0; i < o.count; i++)
    nodes.push(await startProviderNode({ name: `bench-${i}`, cpus: 1, memory: '512m', apiUrl: o.apiUrl, temporalAddress: o.temporalAddress, buildRuntimes: false, workDir: path.join(o.workDir, `p${i}`) }));
  process.stdout.write('ready\n');
}

process.on('SIGTERM', () => {
  void Promise.all(nodes.map((n) => n.close())).finally(() => process.exit(0));
});

main().catch((e) => {
  console.error(`provider host failed: ${(e as Error).message}`);
  process.exit(1);
});
