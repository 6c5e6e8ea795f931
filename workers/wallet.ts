/**
 * A provider's own wallet, as Golem's yagna makes one: a key created on first start and kept
 * (mode 0600) in the provider's folder. Its address goes into the offer; GLM for accepted
 * results is released to it. `--payment-address` names another address instead.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

export async function loadOrCreateWallet(dir: string): Promise<{ address: string; file: string; created: boolean }> {
  const file = path.join(dir, 'wallet.json');
  const existing = await fs.readFile(file, 'utf8').then(JSON.parse, () => undefined);
  if (existing?.privateKey) return { address: privateKeyToAccount(existing.privateKey).address, file, created: false };
  const privateKey = generatePrivateKey();
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(file, JSON.stringify({ privateKey, address: privateKeyToAccount(privateKey).address }, null, 2), { mode: 0o600 });
  return { address: privateKeyToAccount(privateKey).address, file, created: true };
}
