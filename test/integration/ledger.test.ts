/**
 * The requestor's wallet ledger against a real chain (its own Anvil): a transaction left
 * pending is replaced with the same nonce and a higher fee, and exactly one of them is mined;
 * a transaction signed and recorded but never broadcast (a crash) is found and sent by the
 * next step, never signed twice.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { createTestClient, encodeFunctionData, http, keccak256, maxUint256 } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectChain, type Chain } from '../../adapters/chain.js';
import { ensureAnvil } from '../../infra/anvil.js';
import { openDatabase, type Database } from '../../schema/db.js';
import { chainTxs } from '../../schema/tables.js';
import { anvilKey, freshDatabase } from '../support/harness.js';
import { privateKeyToAccount } from 'viem/accounts';

describe('the payments ledger', () => {
  let dir: string;
  let pid: number | undefined;
  let database: Database;
  let drop: () => Promise<void>;
  let chain: Chain;
  const port = 18900 + Math.floor(Math.random() * 90);
  const rpcUrl = `http://127.0.0.1:${port}`;
  const test = createTestClient({ mode: 'anvil', transport: http(rpcUrl) });

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-ledger-'));
    pid = (await ensureAnvil({ port, logFile: path.join(dir, 'anvil.log') })).pid;
    const db = await freshDatabase();
    drop = db.drop;
    database = await openDatabase({ url: db.url, dataDir: dir });
    chain = await connectChain(database.db, { rpcUrl, network: 'local', privateKey: anvilKey(3), confirmations: 1, replaceAfterMs: 1000, cacheDir: path.join(dir, 'contracts') });
  });
  afterAll(async () => {
    await database?.close();
    await drop?.();
    if (pid) process.kill(pid, 'SIGTERM');
  });

  it('replaces a transaction left pending with the same nonce and a higher fee; one of them is mined', async () => {
    await test.setAutomine(false);
    const data = encodeFunctionData({ abi: chain.contracts.GLM.abi, functionName: 'approve', args: [chain.escrow, maxUint256 - 1n] });
    const sent = chain.send('approve', chain.token, data, { jobId: undefined });
    // Pending for longer than replaceAfterMs (1 s): replaced, maybe more than once.
    await new Promise((r) => setTimeout(r, 2500));
    await test.mine({ blocks: 1 });
    await test.setAutomine(true);
    const { hash } = await sent;
    const rows = await database.db.select().from(chainTxs);
    const sameNonce = rows.filter((r) => r.nonce === rows.find((x) => x.hash === hash)!.nonce);
    expect(sameNonce.length).toBeGreaterThanOrEqual(2);
    expect(sameNonce.filter((r) => r.status === 'mined').map((r) => r.hash)).toEqual([hash]);
    expect(sameNonce.filter((r) => r.status !== 'mined').every((r) => r.status === 'replaced')).toBe(true);
    const fees = sameNonce.map((r) => BigInt(r.maxFeePerGas)).sort((a, b) => (a < b ? -1 : 1));
    expect(fees[fees.length - 1]).toBeGreaterThan(fees[0]);
    expect(await chain.read<bigint>(chain.token, chain.contracts.GLM.abi, 'allowance', [chain.account, chain.escrow])).toBe(maxUint256 - 1n);
  });

  it('sends what a crashed step signed but never broadcast, before anything new', async () => {
    // A signed transaction recorded in the ledger, as a step that died before broadcasting leaves it.
    const nonce = await chain.publicClient.getTransactionCount({ address: chain.account, blockTag: 'pending' });
    const fees = await chain.publicClient.estimateFeesPerGas();
    const account = privateKeyToAccount(anvilKey(3));
    const raw = await account.signTransaction({
      chainId: chain.chainId,
      to: chain.token,
      data: encodeFunctionData({ abi: chain.contracts.GLM.abi, functionName: 'approve', args: [chain.escrow, 12345n] }),
      nonce,
      gas: 100_000n,
      maxFeePerGas: fees.maxFeePerGas!,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas!,
      type: 'eip1559',
    });
    await database.db.insert(chainTxs).values({ hash: keccak256(raw), chainId: chain.chainId, account: chain.account, nonce, kind: 'approve', raw, maxFeePerGas: String(fees.maxFeePerGas) });
    // The next send finishes the recorded one first (its nonce), then signs its own after it.
    const data = encodeFunctionData({ abi: chain.contracts.GLM.abi, functionName: 'approve', args: [chain.escrow, 777n] });
    await chain.send('approve', chain.token, data, {});
    const [recorded] = await database.db.select().from(chainTxs).where(eq(chainTxs.hash, keccak256(raw)));
    expect(recorded.status).toBe('mined');
    const all = await database.db.select().from(chainTxs);
    expect(new Set(all.filter((r) => r.status === 'mined').map((r) => r.nonce)).size).toBe(all.filter((r) => r.status === 'mined').length);
    expect(await chain.read<bigint>(chain.token, chain.contracts.GLM.abi, 'allowance', [chain.account, chain.escrow])).toBe(777n);
  });
});
