/**
 * The local development chain: Anvil, from the npm package @foundry-rs/anvil (its binary ships
 * in @foundry-rs/anvil-linux-amd64; npm here runs no install scripts, so it is called directly).
 * Reused when one already answers on the port; started detached otherwise.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { processAlive, spawnDetached, waitFor } from './processes.js';

const require = createRequire(import.meta.url);

/** Anvil's well-known development mnemonic: its accounts are funded with test ETH. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';

export function anvilBinary(): string {
  const pkg = `@foundry-rs/anvil-${process.platform === 'darwin' ? 'darwin' : 'linux'}-${process.arch === 'arm64' ? 'arm64' : 'amd64'}`;
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'anvil');
  } catch {
    throw new Error(`the Anvil binary package ${pkg} is not installed: run npm ci`);
  }
}

async function chainId(rpcUrl: string): Promise<number | undefined> {
  try {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1000),
    });
    const body = (await res.json()) as { result?: string };
    return body.result ? Number(body.result) : undefined;
  } catch {
    return undefined;
  }
}

export interface AnvilHandle {
  rpcUrl: string;
  chainId: number;
  /** Set when this call started it. */
  pid?: number;
}

/** Makes sure an Anvil node answers on 127.0.0.1:port; starts one when none does. */
export async function ensureAnvil(opts: { port: number; logFile: string; log?: (m: string) => void; blockTime?: number; stateFile?: string }): Promise<AnvilHandle> {
  const rpcUrl = `http://127.0.0.1:${opts.port}`;
  const running = await chainId(rpcUrl);
  if (running !== undefined) return { rpcUrl, chainId: running };
  opts.log?.(`starting Anvil on ${rpcUrl}`);
  const args = ['--host', '127.0.0.1', '--port', String(opts.port), '--mnemonic', ANVIL_MNEMONIC, '--accounts', '20', '--silent'];
  if (opts.blockTime) args.push('--block-time', String(opts.blockTime));
  // Kept across restarts of the stack: balances and contracts survive `stack down`.
  if (opts.stateFile) args.push('--state', opts.stateFile);
  const pid = await spawnDetached(anvilBinary(), args, opts.logFile);
  await waitFor(`Anvil (log: ${opts.logFile})`, async () => processAlive(pid) && (await chainId(rpcUrl)) !== undefined, 30_000);
  return { rpcUrl, chainId: (await chainId(rpcUrl))!, pid };
}
