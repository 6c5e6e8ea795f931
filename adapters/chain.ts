/**
 * The requestor's wallet on an EVM chain, through viem: the GLM token and the escrow, and every
 * transaction it sends written to the ledger (chain_txs) before it is broadcast. A crash after
 * signing finds the signed transaction and broadcasts it again (same hash: never a second
 * payment); a transaction that stays pending is replaced with the same nonce and a higher fee;
 * a payment is settled only after the configured confirmations.
 */
import { FailureType, GolemflowError } from '../core/failures.js';
import { and, desc, eq, inArray, max, ne, sql } from 'drizzle-orm';
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  http,
  keccak256,
  maxUint256,
  type Address,
  type Hex,
  type PublicClient,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { compileContracts, type CompiledContracts } from '../contracts/compile.js';
import { NETWORKS, glmToWei, type NetworkName } from '../core/payments.js';
import type { Db } from '../schema/db.js';
import { chainTxs, deployments } from '../schema/tables.js';

export interface ChainConfig {
  rpcUrl: string;
  network: NetworkName;
  /** The requestor's key (local: Anvil's first account). */
  privateKey: Hex;
  /** Blocks on top of a payment's block before it counts as settled. */
  confirmations: number;
  /** How long a transaction may stay pending before it is replaced with a higher fee. */
  replaceAfterMs: number;
  /** Contract addresses on a real network (local: deployed by the project). */
  escrowAddress?: Address;
  /** Where compiled contracts are cached. */
  cacheDir: string;
}

/** The chain cannot be used now (unreachable, out of funds): worth waiting for, and saying why. */
export class ChainUnavailableError extends GolemflowError {
  constructor(message: string) {
    super(FailureType.ChainUnavailable, message);
  }
}

/** A call the contract refuses (a revert): waiting will not help. */
export class ChainRevertError extends GolemflowError {
  constructor(
    message: string,
    readonly errorName?: string,
  ) {
    super(FailureType.PaymentRefused, message);
  }
}

/** A transaction its step chose not to send after all (`unless`): nothing was signed or recorded. */
export class SendRefused extends GolemflowError {
  constructor(message: string) {
    super(FailureType.PaymentRefused, message);
  }
}

/** One nonce at a time for the wallet; a step that must not overlap a send's recording takes it too (payments.ts abandonLock). */
export const LOCK_WALLET = 7_340_001;

type TxKind = (typeof chainTxs.$inferSelect)['kind'];

export interface Chain {
  chainId: number;
  account: Address;
  token: Address;
  escrow: Address;
  contracts: CompiledContracts;
  publicClient: PublicClient;
  /** Sends a contract call through the ledger; returns once mined with enough confirmations. */
  /**
   * Signs, records and sends a transaction. `meta.unless`, checked in the transaction that
   * records it: a reason not to send after all (nothing is signed or recorded; SendRefused).
   */
  send(kind: TxKind, to: Address, data: Hex, meta: { jobId?: string; paymentIds?: string[]; unless?: (tx: Db) => Promise<string | null> }): Promise<{ hash: Hex; blockNumber: bigint }>;
  /** Finishes (broadcasts again, replaces, confirms) what the ledger holds as signed but not settled. */
  resumePending(filter?: { jobId?: string; kind?: TxKind }): Promise<void>;
  read<T>(address: Address, abi: CompiledContracts['GLM']['abi'], functionName: string, args?: unknown[]): Promise<T>;
  tokenBalance(address: Address): Promise<bigint>;
}

function describe(e: unknown): string {
  if (e instanceof BaseError) {
    const revert = e.walk((x) => x instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
    if (revert) return `reverted: ${revert.data?.errorName ?? revert.reason ?? revert.shortMessage}${revert.data?.args ? `(${revert.data.args.map(String).join(', ')})` : ''}`;
    return e.shortMessage;
  }
  return (e as Error)?.message ?? String(e);
}

function isUnreachable(e: unknown): boolean {
  const text = e instanceof BaseError ? `${e.name} ${e.shortMessage} ${e.details ?? ''}` : String(e);
  return /HttpRequestError|fetch failed|ECONNREFUSED|ECONNRESET|took too long to respond|socket/i.test(text);
}

/** Connects to the chain; on the local network deploys GLM and the escrow once (found again after restarts) and funds the requestor. */
export async function connectChain(db: Db, cfg: ChainConfig, log: (m: string) => void = () => {}): Promise<Chain> {
  const account: PrivateKeyAccount = privateKeyToAccount(cfg.privateKey);
  const publicClient = createPublicClient({ transport: http(cfg.rpcUrl, { retryCount: 0, timeout: 10_000 }) }) as PublicClient;
  let chainId: number;
  try {
    chainId = await publicClient.getChainId();
  } catch (e) {
    throw new ChainUnavailableError(`the chain at ${cfg.rpcUrl} does not answer: ${describe(e)}`);
  }
  const expected = NETWORKS[cfg.network].chainId;
  if (chainId !== expected) throw new Error(`the chain at ${cfg.rpcUrl} has chain id ${chainId}, but the network ${cfg.network} is ${expected}`);
  const wallet: WalletClient = createWalletClient({ account, transport: http(cfg.rpcUrl, { retryCount: 0, timeout: 10_000 }) });
  const contracts = await compileContracts(cfg.cacheDir);

  async function deployed(name: 'GLM' | 'GolemflowEscrow'): Promise<Address | undefined> {
    const [row] = await db
      .select()
      .from(deployments)
      .where(and(eq(deployments.chainId, chainId), eq(deployments.name, name), eq(deployments.sourceHash, contracts.sourceHash)));
    if (!row) return undefined;
    const code = await publicClient.getCode({ address: row.address as Address });
    return code && code !== '0x' ? (row.address as Address) : undefined; // a restarted local chain forgets
  }

  const chain: Chain = {
    chainId,
    account: account.address,
    token: '0x0000000000000000000000000000000000000000',
    escrow: '0x0000000000000000000000000000000000000000',
    contracts,
    publicClient,

    async read<T>(address: Address, abi: CompiledContracts['GLM']['abi'], functionName: string, args: unknown[] = []): Promise<T> {
      try {
        return (await publicClient.readContract({ address, abi, functionName, args } as Parameters<PublicClient['readContract']>[0])) as T;
      } catch (e) {
        if (isUnreachable(e)) throw new ChainUnavailableError(`the chain at ${cfg.rpcUrl} does not answer: ${describe(e)}`);
        throw e;
      }
    },

    tokenBalance(address: Address) {
      return chain.read<bigint>(chain.token, contracts.GLM.abi, 'balanceOf', [address]);
    },

    async resumePending(filter = {}) {
      const rows = await db
        .select()
        .from(chainTxs)
        .where(
          and(
            eq(chainTxs.account, account.address),
            eq(chainTxs.chainId, chainId),
            eq(chainTxs.status, 'signed'),
            filter.jobId ? eq(chainTxs.jobId, filter.jobId) : undefined,
            filter.kind ? eq(chainTxs.kind, filter.kind) : undefined,
          ),
        )
        .orderBy(chainTxs.nonce);
      for (const row of rows) await follow(row);
    },

    async send(kind, to, data, meta) {
      // What an earlier try of this step signed and did not see settled comes first.
      await chain.resumePending();
      let gas: bigint;
      try {
        gas = await publicClient.estimateGas({ account: account.address, to, data });
      } catch (e) {
        if (isUnreachable(e)) throw new ChainUnavailableError(`the chain at ${cfg.rpcUrl} does not answer: ${describe(e)}`);
        const why = describe(e);
        if (/insufficient funds/i.test(why)) throw new ChainUnavailableError(`the requestor's wallet ${account.address} cannot pay for gas: ${why}`);
        throw new ChainRevertError(`${kind} ${why}`, /reverted: (\w+)/.exec(why)?.[1]);
      }
      const fees = await publicClient.estimateFeesPerGas();
      const row = await db.transaction(async (tx) => {
        // One nonce at a time for this wallet, across every job and activity of this node.
        await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_WALLET}, 0)`);
        const refused = meta.unless ? await meta.unless(tx as unknown as Db) : null;
        if (refused !== null) throw new SendRefused(refused);
        const onChain = await publicClient.getTransactionCount({ address: account.address, blockTag: 'pending' });
        const [{ top }] = await tx
          .select({ top: max(chainTxs.nonce) })
          .from(chainTxs)
          .where(and(eq(chainTxs.account, account.address), eq(chainTxs.chainId, chainId), ne(chainTxs.status, 'replaced'), ne(chainTxs.status, 'failed')));
        const nonce = Math.max(onChain, top === null ? 0 : top + 1);
        const raw = await wallet.signTransaction({
          account,
          chain: null,
          chainId,
          to,
          data,
          nonce,
          gas: (gas * 12n) / 10n,
          maxFeePerGas: fees.maxFeePerGas!,
          maxPriorityFeePerGas: fees.maxPriorityFeePerGas!,
          type: 'eip1559',
        });
        const [inserted] = await tx
          .insert(chainTxs)
          .values({
            hash: keccak256(raw),
            chainId,
            account: account.address,
            nonce,
            kind,
            jobId: meta.jobId ?? null,
            paymentIds: meta.paymentIds ?? [],
            raw,
            maxFeePerGas: String(fees.maxFeePerGas),
          })
          .returning();
        return inserted;
      });
      return follow(row);
    },
  };

  /** Broadcasts a ledger transaction (again), waits for it, replaces it when it stays pending; marks the outcome. */
  async function follow(first: typeof chainTxs.$inferSelect): Promise<{ hash: Hex; blockNumber: bigint }> {
    let row = first;
    for (;;) {
      // Any transaction with this nonce may be the one mined (an earlier fee or its replacement).
      const siblings = await db
        .select()
        .from(chainTxs)
        .where(and(eq(chainTxs.account, row.account), eq(chainTxs.chainId, chainId), eq(chainTxs.nonce, row.nonce), inArray(chainTxs.status, ['signed', 'replaced', 'mined'])))
        .orderBy(desc(chainTxs.createdAt));
      for (const s of siblings) {
        const receipt = await publicClient.getTransactionReceipt({ hash: s.hash as Hex }).catch(() => undefined);
        if (receipt) return settle(s, receipt);
      }
      try {
        await publicClient.sendRawTransaction({ serializedTransaction: row.raw as Hex });
      } catch (e) {
        const why = describe(e);
        if (isUnreachable(e)) throw new ChainUnavailableError(`the chain at ${cfg.rpcUrl} does not answer: ${why}`);
        // Known already, or its nonce used by a sibling just mined: the receipts say which.
        if (!/already known|nonce too low|replacement transaction underpriced|already imported/i.test(why)) throw new ChainUnavailableError(`broadcasting ${row.kind} ${row.hash}: ${why}`);
      }
      try {
        const receipt = await publicClient.waitForTransactionReceipt({ hash: row.hash as Hex, timeout: cfg.replaceAfterMs, pollingInterval: 200 });
        return settle(row, receipt);
      } catch (e) {
        // Still pending after replaceAfterMs: replaced below. Anything else is the node's trouble.
        if ((e as Error).name !== 'WaitForTransactionReceiptTimeoutError') {
          if (isUnreachable(e)) throw new ChainUnavailableError(`the chain at ${cfg.rpcUrl} does not answer: ${describe(e)}`);
          throw e;
        }
      }
      // Still pending: the same nonce again, with fees a quarter higher (nodes want at least a tenth).
      const bumped = (BigInt(row.maxFeePerGas) * 125n) / 100n + 1n;
      const raw = await wallet.signTransaction({
        account,
        chain: null,
        chainId,
        ...(await decode(row.raw as Hex)),
        nonce: row.nonce,
        maxFeePerGas: bumped,
        maxPriorityFeePerGas: bumped / 2n,
        type: 'eip1559',
      });
      const hash = keccak256(raw);
      const [replacement] = await db.transaction(async (tx) => {
        await tx.update(chainTxs).set({ status: 'replaced', replacedBy: hash }).where(eq(chainTxs.hash, row.hash));
        return tx
          .insert(chainTxs)
          .values({ ...row, hash, raw, maxFeePerGas: String(bumped), status: 'signed', replacedBy: null, createdAt: new Date() })
          .onConflictDoNothing()
          .returning();
      });
      log(`${row.kind} ${row.hash} pending for ${cfg.replaceAfterMs} ms: replaced by ${hash} (max fee ${bumped})`);
      row = replacement ?? row;
    }
  }

  async function decode(raw: Hex): Promise<{ to: Address; data: Hex; gas: bigint }> {
    const { parseTransaction } = await import('viem');
    const t = parseTransaction(raw);
    return { to: t.to!, data: t.data ?? '0x', gas: t.gas! };
  }

  async function settle(row: typeof chainTxs.$inferSelect, receipt: { status: string; blockNumber: bigint; transactionHash: Hex }): Promise<{ hash: Hex; blockNumber: bigint }> {
    if (cfg.confirmations > 1) await publicClient.waitForTransactionReceipt({ hash: receipt.transactionHash, confirmations: cfg.confirmations, pollingInterval: 200 });
    await db.transaction(async (tx) => {
      // Its siblings (other fees for the same nonce) were never mined.
      await tx
        .update(chainTxs)
        .set({ status: 'replaced' })
        .where(and(eq(chainTxs.account, row.account), eq(chainTxs.chainId, chainId), eq(chainTxs.nonce, row.nonce), ne(chainTxs.hash, row.hash)));
      await tx
        .update(chainTxs)
        .set({ status: receipt.status === 'success' ? 'mined' : 'failed', blockNumber: Number(receipt.blockNumber), minedAt: new Date(), error: receipt.status === 'success' ? null : 'reverted' })
        .where(eq(chainTxs.hash, row.hash));
    });
    if (receipt.status !== 'success') throw new ChainRevertError(`${row.kind} ${row.hash} reverted on chain`);
    return { hash: receipt.transactionHash, blockNumber: receipt.blockNumber };
  }

  // The contracts: on the local chain, deployed once by the project; elsewhere, configured.
  if (cfg.network === 'local') {
    let token = await deployed('GLM');
    let escrow = await deployed('GolemflowEscrow');
    if (!token || !escrow) {
      log('deploying GLM and the escrow on the local chain');
      const deploy = async (name: 'GLM' | 'GolemflowEscrow', args: unknown[]) => {
        const hash = await wallet.deployContract({ account, chain: null, abi: contracts[name].abi, bytecode: contracts[name].bytecode, args } as Parameters<WalletClient['deployContract']>[0]);
        const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 200 });
        const address = receipt.contractAddress!;
        await db.insert(deployments).values({ chainId, name, address, sourceHash: contracts.sourceHash }).onConflictDoUpdate({
          target: [deployments.chainId, deployments.name, deployments.sourceHash],
          set: { address, deployedAt: new Date() },
        });
        return address;
      };
      token = await deploy('GLM', []);
      escrow = await deploy('GolemflowEscrow', [token]);
      chain.token = token;
      chain.escrow = escrow;
      // The requestor's test GLM: a million, minted on the local chain only.
      await chain.send('mint', token, encodeFunctionData({ abi: contracts.GLM.abi, functionName: 'mint', args: [account.address, glmToWei('1000000')] }), {});
    }
    chain.token = token;
    chain.escrow = escrow;
  } else {
    chain.token = NETWORKS[cfg.network].glm as Address;
    if (!cfg.escrowAddress) throw new Error(`network ${cfg.network}: set ESCROW_ADDRESS to the Golemflow escrow deployed there`);
    chain.escrow = cfg.escrowAddress;
  }
  // The escrow may take the requestor's GLM when it locks a budget: approved once, for good.
  const allowance = await chain.read<bigint>(chain.token, contracts.GLM.abi, 'allowance', [account.address, chain.escrow]);
  if (allowance < maxUint256 / 2n)
    await chain.send('approve', chain.token, encodeFunctionData({ abi: contracts.GLM.abi, functionName: 'approve', args: [chain.escrow, maxUint256] }), {});
  return chain;
}
