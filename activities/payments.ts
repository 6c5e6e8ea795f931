/**
 * Paying providers in GLM through the escrow, on the requestor's node. Every activity here is
 * idempotent: ids come from the job, subtask and provider; the chain is asked before anything
 * is sent; the ledger (adapters/chain.ts) finishes what a crashed try signed. Invoices are
 * written when results are judged (acceptResult); these activities lock, release and close.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { and, asc, eq, inArray, ne, sql } from 'drizzle-orm';
import { encodeFunctionData, type Address, type Hex } from 'viem';
import { FailureType } from '../core/failures.js';
import { allocationIdOf, glmToWei, weiToGlm } from '../core/payments.js';
import type { Db } from '../schema/db.js';
import { allocations, chainTxs, invoices, jobEvents, jobs } from '../schema/tables.js';
import { ChainRevertError, ChainUnavailableError, LOCK_WALLET, SendRefused, type Chain } from '../adapters/chain.js';
import { LOCK_JOB_EVENTS, type AddEvent } from '../adapters/events.js';
import { immutableFacts } from '../adapters/marketData.js';

export interface PaymentDeps {
  db: Db;
  /** Connects on first use, so the node starts (and jobs wait, saying why) while the chain is down. */
  chain: () => Promise<Chain>;
  addEvent: AddEvent;
  /** Releases per transaction at most. */
  batchSize?: number;
  /** How long an allocation stays locked before anyone may return it to the requestor. */
  allocationSeconds?: number;
}

export interface SettleResult {
  paid: number;
  /** Paid in this call, wei as decimal text. */
  paidWei: string;
  transactions: number;
  /** Accepted invoices left unpaid because the budget is spent. */
  overBudget: number;
}

/** The job event that marks a budget lock abandoned (abandonLock): a lock still on its way must not be sent. */
const BUDGET_NOT_LOCKED = 'budget-not-locked';
const NOT_LOCKED_MESSAGE = 'the job ended before its budget was locked: nothing was locked, nothing is returned';

/** Why a job's budget must not be locked now (its lock was abandoned, its allocation closed), or null. */
async function allocationClosed(tx: Db, jobId: string): Promise<string | null> {
  const [abandoned] = await tx.select({ seq: jobEvents.seq }).from(jobEvents).where(and(eq(jobEvents.jobId, jobId), eq(jobEvents.key, BUDGET_NOT_LOCKED)));
  if (abandoned) return `the budget lock of job ${jobId} was abandoned (the job ended first)`;
  const [a] = await tx.select({ state: allocations.state }).from(allocations).where(eq(allocations.jobId, jobId));
  return a?.state === 'closed' ? `the allocation of job ${jobId} is closed` : null;
}

export function createPaymentActivities(deps: PaymentDeps) {
  const { db } = deps;
  const batchSize = deps.batchSize ?? 100;

  async function note(jobId: string, text: string | null) {
    await db.update(allocations).set({ note: text }).where(eq(allocations.jobId, jobId));
    await db.update(jobs).set({ paymentNote: text }).where(eq(jobs.id, jobId));
  }

  /**
   * Runs a chain step; a chain that is down becomes a retryable failure that says why (and the
   * job's allocation says so too). It heartbeats while it waits for blocks, so a node that dies
   * mid-step is noticed in seconds and the step retried (the ledger makes the retry safe).
   */
  async function onChain<T>(jobId: string, what: string, step: (chain: Chain) => Promise<T>): Promise<T> {
    const ctx = Context.current();
    ctx.heartbeat();
    const beat = setInterval(() => ctx.heartbeat(), 1000);
    try {
      return await onChainInner(jobId, what, step);
    } finally {
      clearInterval(beat);
    }
  }

  async function onChainInner<T>(jobId: string, what: string, step: (chain: Chain) => Promise<T>): Promise<T> {
    let chain: Chain;
    try {
      chain = await deps.chain();
    } catch (e) {
      const why = `${what} waits: ${e instanceof ChainUnavailableError ? e.message : `cannot use the chain: ${(e as Error).message}`}`;
      await note(jobId, why);
      await deps.addEvent(jobId, `payment-waiting/${what}/${Math.floor(Date.now() / 60_000)}`, 'paymentWaiting', { message: why });
      throw ApplicationFailure.retryable(why, FailureType.ChainUnavailable);
    }
    try {
      const out = await step(chain);
      await note(jobId, null);
      return out;
    } catch (e) {
      if (e instanceof ChainUnavailableError) {
        const why = `${what} waits: ${e.message}`;
        await note(jobId, why);
        await deps.addEvent(jobId, `payment-waiting/${what}/${Math.floor(Date.now() / 60_000)}`, 'paymentWaiting', { message: why });
        throw ApplicationFailure.retryable(why, FailureType.ChainUnavailable);
      }
      if (e instanceof ChainRevertError) throw ApplicationFailure.nonRetryable(`${what}: ${e.message}`, FailureType.PaymentRefused);
      throw e;
    }
  }

  async function allocationOf(jobId: string) {
    const [a] = await db.select().from(allocations).where(eq(allocations.jobId, jobId));
    return a;
  }

  return {
    /** Locks the job's budget in the escrow (once: the chain is asked first). */
    async lockBudget({ jobId }: { jobId: string }): Promise<{ allocationId: string; lockedWei: string }> {
      const job = await immutableFacts(db).job(jobId);
      if (!job?.spec.budget) throw ApplicationFailure.nonRetryable(`job ${jobId} has no budget`, FailureType.InvalidJobSpec);
      const amount = glmToWei(job.spec.budget.amount);
      const allocationId = allocationIdOf(jobId);
      return onChain(jobId, 'locking the budget', async (chain) => {
        const existing = await allocationOf(jobId);
        if (existing?.state === 'locked' || existing?.state === 'closed') return { allocationId, lockedWei: existing.lockedWei };
        const deadline = new Date(Date.now() + (deps.allocationSeconds ?? 7 * 24 * 3600) * 1000);
        if (!existing)
          await db
            .insert(allocations)
            .values({ jobId, allocationId, chainId: chain.chainId, escrow: chain.escrow, token: chain.token, requestor: chain.account, deadline })
            .onConflictDoNothing();
        const row = (await allocationOf(jobId))!;
        await chain.resumePending({ jobId, kind: 'lock' });
        const onEscrow = await chain.read<readonly [Address, Address, bigint, bigint, bigint, boolean]>(chain.escrow, chain.contracts.GolemflowEscrow.abi, 'allocations', [allocationId]);
        let lockTx: string | null = null;
        if (onEscrow[0] === '0x0000000000000000000000000000000000000000') {
          const balance = await chain.tokenBalance(chain.account);
          if (balance < amount)
            throw new ChainUnavailableError(`the requestor's wallet ${chain.account} holds ${weiToGlm(balance)} GLM, the budget is ${weiToGlm(amount)} GLM`);
          const data = encodeFunctionData({
            abi: chain.contracts.GolemflowEscrow.abi,
            functionName: 'lock',
            args: [allocationId, amount, BigInt(Math.floor(row.deadline.getTime() / 1000)), chain.account],
          });
          // A job cancelled while its lock waited has its allocation closed by abandonLock: then
          // nothing may be locked. Checked where the transaction is recorded, under the wallet's
          // lock that abandonLock takes too, so that one of the two goes first (abandonLock,
          // seeing the lock recorded, waits for it and returns the budget).
          try {
            lockTx = (await chain.send('lock', chain.escrow, data, { jobId, unless: (tx) => allocationClosed(tx, jobId) })).hash;
          } catch (e) {
            if (!(e instanceof SendRefused)) throw e;
            // The row this try made (or found pending) closes too: nothing was locked.
            await db.update(allocations).set({ state: 'closed', returnedWei: '0', closedAt: new Date() }).where(and(eq(allocations.jobId, jobId), eq(allocations.state, 'pending')));
            return { allocationId, lockedWei: '0' };
          }
        } else {
          const [mined] = await db.select({ hash: chainTxs.hash }).from(chainTxs).where(and(eq(chainTxs.jobId, jobId), eq(chainTxs.kind, 'lock'), eq(chainTxs.status, 'mined')));
          lockTx = mined?.hash ?? null;
        }
        // Only a pending allocation becomes locked: one closed meanwhile (its lock finished and
        // returned by abandonLock's close) stays closed.
        const [locked] = await db
          .update(allocations)
          .set({ state: 'locked', lockedWei: String(amount), lockTx })
          .where(and(eq(allocations.jobId, jobId), eq(allocations.state, 'pending')))
          .returning({ jobId: allocations.jobId });
        if (!locked) return { allocationId, lockedWei: (await allocationOf(jobId))?.lockedWei ?? '0' };
        await deps.addEvent(jobId, 'budget-locked', 'budgetLocked', { message: `${weiToGlm(amount)} GLM locked in the escrow (tx ${lockTx})` });
        return { allocationId, lockedWei: String(amount) };
      });
    },

    /** Raises a job's budget: more GLM locked in its allocation. `step` makes a retried raise a no-op. */
    async increaseBudget({ jobId, amount, step }: { jobId: string; amount: string; step: string }): Promise<{ lockedWei: string }> {
      const add = glmToWei(amount);
      return onChain(jobId, 'raising the budget', async (chain) => {
        const stepKey = `increase/${step}`;
        const [done] = await db
          .select({ hash: chainTxs.hash })
          .from(chainTxs)
          .where(and(eq(chainTxs.jobId, jobId), eq(chainTxs.kind, 'increase'), sql`${chainTxs.paymentIds} @> ${JSON.stringify([stepKey])}::jsonb`, inArray(chainTxs.status, ['mined', 'signed'])));
        if (done) await chain.resumePending({ jobId, kind: 'increase' });
        else {
          const data = encodeFunctionData({ abi: chain.contracts.GolemflowEscrow.abi, functionName: 'increase', args: [allocationIdOf(jobId), add] });
          await chain.send('increase', chain.escrow, data, { jobId, paymentIds: [stepKey] });
        }
        const onEscrow = await chain.read<readonly [Address, Address, bigint, bigint, bigint, boolean]>(chain.escrow, chain.contracts.GolemflowEscrow.abi, 'allocations', [allocationIdOf(jobId)]);
        await db.update(allocations).set({ lockedWei: String(onEscrow[2]) }).where(eq(allocations.jobId, jobId));
        await deps.addEvent(jobId, `budget-raised/${step}`, 'budgetRaised', { message: `budget raised by ${amount} GLM to ${weiToGlm(onEscrow[2])} GLM` });
        return { lockedWei: String(onEscrow[2]) };
      });
    },

    /**
     * Pays the job's accepted, unpaid invoices: asks the escrow which are paid already (a
     * crash after mining), then releases the rest in batches, as far as the budget goes.
     */
    async settlePayments({ jobId }: { jobId: string }): Promise<SettleResult> {
      return onChain(jobId, 'paying providers', async (chain) => {
        await chain.resumePending({ jobId, kind: 'release' });
        const alloc = await allocationOf(jobId);
        if (!alloc || alloc.state !== 'locked') return { paid: 0, paidWei: '0', transactions: 0, overBudget: 0 };
        const due = await db
          .select()
          .from(invoices)
          .where(and(eq(invoices.jobId, jobId), eq(invoices.status, 'accepted')))
          .orderBy(asc(invoices.createdAt), asc(invoices.subtaskIndex));
        const escrowAbi = chain.contracts.GolemflowEscrow.abi;
        const unpaid: typeof due = [];
        for (const inv of due) {
          if (await chain.read<boolean>(chain.escrow, escrowAbi, 'isPaid', [inv.paymentId])) {
            const [tx] = await db
              .select({ hash: chainTxs.hash })
              .from(chainTxs)
              .where(and(eq(chainTxs.jobId, jobId), eq(chainTxs.status, 'mined'), sql`${chainTxs.paymentIds} @> ${JSON.stringify([inv.paymentId])}::jsonb`));
            await db.update(invoices).set({ status: 'paid', txHash: tx?.hash ?? null, paidAt: new Date() }).where(eq(invoices.paymentId, inv.paymentId));
          } else if (inv.providerAddress) unpaid.push(inv);
        }
        const onEscrow = await chain.read<readonly [Address, Address, bigint, bigint, bigint, boolean]>(chain.escrow, escrowAbi, 'allocations', [alloc.allocationId]);
        let available = onEscrow[2] - onEscrow[3];
        let paid = 0;
        let paidWei = 0n;
        let transactions = 0;
        let overBudget = 0;
        for (let i = 0; i < unpaid.length; i += batchSize) {
          const batch: typeof unpaid = [];
          for (const inv of unpaid.slice(i, i + batchSize)) {
            const amount = BigInt(inv.amountWei);
            if (amount > available) {
              overBudget++;
              continue;
            }
            available -= amount;
            batch.push(inv);
          }
          if (!batch.length) continue;
          const data = encodeFunctionData({
            abi: escrowAbi,
            functionName: 'release',
            args: [alloc.allocationId as Hex, batch.map((b) => b.paymentId as Hex), batch.map((b) => b.providerAddress as Address), batch.map((b) => BigInt(b.amountWei))],
          });
          const { hash } = await chain.send('release', chain.escrow, data, { jobId, paymentIds: batch.map((b) => b.paymentId) });
          transactions++;
          await db.update(invoices).set({ status: 'paid', txHash: hash, paidAt: new Date() }).where(inArray(invoices.paymentId, batch.map((b) => b.paymentId)));
          paid += batch.length;
          paidWei += batch.reduce((s, b) => s + BigInt(b.amountWei), 0n);
          await deps.addEvent(jobId, `paid/${hash}`, 'paymentsSent', { message: `${batch.length} payments, ${weiToGlm(batch.reduce((s, b) => s + BigInt(b.amountWei), 0n))} GLM, in tx ${hash}` });
        }
        const after = await chain.read<readonly [Address, Address, bigint, bigint, bigint, boolean]>(chain.escrow, escrowAbi, 'allocations', [alloc.allocationId]);
        await db.update(allocations).set({ releasedWei: String(after[3]) }).where(eq(allocations.jobId, jobId));
        if (overBudget) await note(jobId, `${overBudget} accepted results wait for payment: the budget is spent; raise it (raiseBudget) or cancel the job`);
        if (paid) log.info('payments sent', { jobId, paid, transactions });
        return { paid, paidWei: String(paidWei), transactions, overBudget };
      });
    },

    /** Ends the job's allocation: the remainder goes back to the requestor (once: the escrow is asked first). */
    /**
     * A job cancelled while its budget lock waited (the chain down, the wallet short): when no
     * lock transaction was ever signed, nothing can reach the escrow, so the allocation closes
     * here without the chain; otherwise the lock may still be mined, and it is closed on chain.
     */
    async abandonLock({ jobId }: { jobId: string }): Promise<{ returnedWei: string }> {
      // Under the wallet's lock, which a send holds while it records its transaction: a lock not
      // recorded by now never will be (lockBudget's send refuses once this is marked), and one
      // recorded is finished and its budget returned by the close. (The lockBudget activity the
      // job cancelled may still be running: cancelling it does not wait for it to stop.)
      const abandoned = await db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_WALLET}, 0)`);
        const [signed] = await tx.select({ hash: chainTxs.hash }).from(chainTxs).where(and(eq(chainTxs.jobId, jobId), eq(chainTxs.kind, 'lock')));
        if (signed) return false;
        await tx.update(allocations).set({ state: 'closed', returnedWei: '0', closedAt: new Date() }).where(and(eq(allocations.jobId, jobId), ne(allocations.state, 'closed')));
        // The job's event lock, as every event insert takes it (adapters/events.ts: seqs commit in order).
        await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_JOB_EVENTS}, hashtext(${jobId}))`);
        await tx.insert(jobEvents).values({ jobId, key: BUDGET_NOT_LOCKED, type: 'budgetReturned', message: NOT_LOCKED_MESSAGE }).onConflictDoNothing();
        return true;
      });
      if (!abandoned) return closeAllocation(jobId);
      await note(jobId, null);
      // Written in the transaction above; this tells the job's listeners (the same key: no second row).
      await deps.addEvent(jobId, BUDGET_NOT_LOCKED, 'budgetReturned', { message: NOT_LOCKED_MESSAGE });
      return { returnedWei: '0' };
    },

    closeAllocation: ({ jobId }: { jobId: string }) => closeAllocation(jobId),
  };

  async function closeAllocation(jobId: string): Promise<{ returnedWei: string }> {
    return onChain(jobId, 'returning the rest of the budget', async (chain) => {
      const alloc = await allocationOf(jobId);
      if (!alloc) return { returnedWei: '0' };
      if (alloc.state === 'closed') return { returnedWei: alloc.returnedWei ?? '0' };
      // A lock still pending would land after the close: finish it first.
      await chain.resumePending({ jobId, kind: 'lock' });
      await chain.resumePending({ jobId, kind: 'close' });
      const escrowAbi = chain.contracts.GolemflowEscrow.abi;
      const onEscrow = await chain.read<readonly [Address, Address, bigint, bigint, bigint, boolean]>(chain.escrow, escrowAbi, 'allocations', [alloc.allocationId]);
      let closeTx: string | null = null;
      const returned = onEscrow[2] - onEscrow[3];
      if (onEscrow[0] === '0x0000000000000000000000000000000000000000') {
        await db.update(allocations).set({ state: 'closed', returnedWei: '0', closedAt: new Date() }).where(eq(allocations.jobId, jobId));
        return { returnedWei: '0' };
      }
      if (!onEscrow[5]) {
        const data = encodeFunctionData({ abi: escrowAbi, functionName: 'close', args: [alloc.allocationId as Hex] });
        closeTx = (await chain.send('close', chain.escrow, data, { jobId })).hash;
      } else {
        const [mined] = await db.select({ hash: chainTxs.hash }).from(chainTxs).where(and(eq(chainTxs.jobId, jobId), eq(chainTxs.kind, 'close'), eq(chainTxs.status, 'mined')));
        closeTx = mined?.hash ?? null;
      }
      await db
        .update(allocations)
        .set({ state: 'closed', releasedWei: String(onEscrow[3]), returnedWei: String(returned), closeTx, closedAt: new Date() })
        .where(eq(allocations.jobId, jobId));
      await deps.addEvent(jobId, 'budget-returned', 'budgetReturned', { message: `${weiToGlm(returned)} GLM returned to the requestor (tx ${closeTx})` });
      return { returnedWei: String(returned) };
    });
  }
}

export type PaymentActivities = ReturnType<typeof createPaymentActivities>;
