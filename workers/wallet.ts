/**
 * A provider's own wallet, as Golem's yagna makes one: a key created on first start and kept
 * (mode 0600) in the provider's folder. It is the provider's identity: the market binds the
 * provider's id to its address and counts only what this key signs. GLM for accepted results is
 * released to it too, unless `--payment-address` names another address (inside the signed offer).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { generatePrivateKey, type PrivateKeyAccount } from 'viem/accounts';
import { identityAccount } from '../core/identity.js';

/** The provider's key: its identity in the market (it signs offers, answers and results) and, by default, where it is paid. */
export async function loadOrCreateWallet(dir: string): Promise<{ address: string; account: PrivateKeyAccount; file: string; created: boolean }> {
  const file = path.join(dir, 'wallet.json');
  const existing = await fs.readFile(file, 'utf8').then(JSON.parse, () => undefined);
  if (existing?.privateKey) {
    const account = identityAccount(existing.privateKey);
    return { address: account.address, account, file, created: false };
  }
  const privateKey = generatePrivateKey();
  const account = identityAccount(privateKey);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(file, JSON.stringify({ privateKey, address: account.address }, null, 2), { mode: 0o600 });
  return { address: account.address, account, file, created: true };
}
