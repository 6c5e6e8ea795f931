/**
 * GraphQL for payments: a job's allocation and invoices, payments with their transaction
 * hashes, providers' earnings, the requestor's wallet, the ledger, quotes and budget raises.
 */
import { FailureType } from '../core/failures.js';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { and, asc, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { formatEther, type Address } from 'viem';
import { demandFromSpec } from '../core/demand.js';
import { priceText, weiToGlm } from '../core/payments.js';
import { countSubtasks } from '../core/split.js';
import { allocations, chainTxs, invoices, jobs } from '../schema/tables.js';
import type { ApiDeps, RequestContext } from './deps.js';
import { userError } from './errors.js';
import { ownJob, parseSubmittedSpec } from './jobs.js';
import { quoteJob } from './market.js';
import { requestorOf } from './auth.js';
import { raiseBudgetUpdate } from '../workflows/definitions.js';
import { afterKey, connection, decodeCursor, ms, msKey, pageSize, type PageArgs } from './paging.js';

type InvoiceRow = typeof invoices.$inferSelect;
type AllocationRow = typeof allocations.$inferSelect;

export function paymentResolvers(deps: ApiDeps) {
  const { db } = deps;

  type InvoiceArgs = PageArgs & { filter?: { jobId?: string | null; providerId?: string | null; status?: string[] | null } };

  /** A page of invoices, by job, subtask, attempt (and payment id), under `scope`. */
  const invoicePage = async (args: InvoiceArgs, scope: SQL) => {
    const first = pageSize(args.first);
    const f = args.filter ?? {};
    const rows = await db
      .select()
      .from(invoices)
      .where(
        and(
          scope,
          f.jobId ? eq(invoices.jobId, f.jobId) : undefined,
          f.providerId ? eq(invoices.providerId, f.providerId) : undefined,
          f.status?.length ? inArray(invoices.status, f.status.map((s) => s.toLowerCase() as InvoiceRow['status'])) : undefined,
          args.after
            ? afterKey([sql`${invoices.jobId}`, sql`${invoices.subtaskIndex}`, sql`${invoices.attempt}`, sql`${invoices.paymentId}`], decodeCursor(args.after, ['string', 'number', 'number', 'string']), 'asc')
            : undefined,
        ),
      )
      .orderBy(asc(invoices.jobId), asc(invoices.subtaskIndex), asc(invoices.attempt), asc(invoices.paymentId))
      .limit(first + 1);
    return connection(rows, first, (i) => [i.jobId, i.subtaskIndex, i.attempt, i.paymentId]);
  };

  /** Invoices of the caller's own jobs only. */
  const ownedBy = (ctx: RequestContext) => inArray(invoices.jobId, db.select({ id: jobs.id }).from(jobs).where(eq(jobs.requestorId, requestorOf(ctx))));

  return {
    Query: {
      invoices: (_: unknown, args: InvoiceArgs, ctx: RequestContext) => invoicePage(args, ownedBy(ctx)),
      quoteJob: async (_: unknown, args: { spec?: unknown; specText?: string }, ctx: RequestContext) => {
        const spec = parseSubmittedSpec(args);
        const q = await quoteJob(deps, demandFromSpec(spec, requestorOf(ctx)), countSubtasks(spec), spec.redundancy);
        return { amount: q.glm, perRun: q.perRun, runs: q.runs, offersPriced: q.offersPriced, basis: q.basis };
      },
      requestorBalance: async (_: unknown, _args: unknown, ctx: RequestContext) => {
        requestorOf(ctx);
        if (!deps.chain) throw userError(FailureType.Unavailable, 'this node has no payment chain configured');
        let chain;
        try {
          chain = await deps.chain();
        } catch (e) {
          throw userError(FailureType.Unavailable, `the payment chain is not reachable: ${(e as Error).message}`);
        }
        const [glm, eth] = await Promise.all([chain.tokenBalance(chain.account), chain.publicClient.getBalance({ address: chain.account as Address })]);
        return { account: chain.account, chainId: chain.chainId, glm: weiToGlm(glm), eth: formatEther(eth) };
      },
      chainTransactions: async (_: unknown, args: PageArgs & { filter?: { jobId?: string | null } }) => {
        const first = pageSize(args.first);
        const rows = await db
          .select()
          .from(chainTxs)
          .where(
            and(
              args.filter?.jobId ? eq(chainTxs.jobId, args.filter.jobId) : undefined,
              args.after ? afterKey([ms(chainTxs.createdAt), sql`${chainTxs.hash}`], decodeCursor(args.after, ['string', 'string']), 'desc') : undefined,
            ),
          )
          .orderBy(desc(ms(chainTxs.createdAt)), desc(chainTxs.hash))
          .limit(first + 1);
        return connection(rows, first, (t) => [msKey(t.createdAt), t.hash]);
      },
    },
    Mutation: {
      raiseBudget: async (_: unknown, { id, amount: given }: { id: string; amount: string | number }, ctx: RequestContext) => {
        const amount = typeof given === 'number' ? priceText(given) : given;
        const job = await ownJob(db, id, ctx);
        if (!job) throw userError(FailureType.NotFound, `job ${id} does not exist`);
        if (!job.spec.budget) throw userError(FailureType.BadInput, `job ${id} has no budget: it pays no one, so there is nothing to raise`);
        if (['succeeded', 'failed', 'cancelled'].includes(job.status)) throw userError(FailureType.Conflict, `job ${id} has already ended (${job.status})`);
        try {
          await deps.temporal.workflow.getHandle(id).executeUpdate(raiseBudgetUpdate, { args: [amount] });
        } catch (e) {
          const cause = e instanceof WorkflowUpdateFailedError ? ((e.cause as Error | undefined)?.message ?? e.message) : (e as Error).message;
          throw userError(FailureType.BadInput, `could not raise the budget: ${cause}`);
        }
        return (await db.select().from(jobs).where(eq(jobs.id, id)))[0];
      },
    },
    Job: {
      allocation: async (j: { id: string }) => (await db.select().from(allocations).where(eq(allocations.jobId, j.id)))[0] ?? null,
      invoices: (j: { id: string }, args: InvoiceArgs) => invoicePage(args, eq(invoices.jobId, j.id)),
    },
    Provider: {
      earnings: async (p: { id: string }) => {
        const rows = await db
          .select({ status: invoices.status, total: sql<string>`coalesce(sum(${invoices.amountWei}), 0)::text`, n: sql<number>`count(*)::int` })
          .from(invoices)
          .where(eq(invoices.providerId, p.id))
          .groupBy(invoices.status);
        const of = (s: string) => BigInt(rows.find((r) => r.status === s)?.total ?? '0');
        return { paid: weiToGlm(of('paid')), owed: weiToGlm(of('accepted')), refused: weiToGlm(of('rejected')), payments: rows.find((r) => r.status === 'paid')?.n ?? 0 };
      },
    },
    Allocation: {
      state: (a: AllocationRow) => a.state.toUpperCase(),
      locked: (a: AllocationRow) => weiToGlm(BigInt(a.lockedWei)),
      released: (a: AllocationRow) => weiToGlm(BigInt(a.releasedWei)),
      returned: (a: AllocationRow) => (a.returnedWei === null ? null : weiToGlm(BigInt(a.returnedWei))),
    },
    Invoice: {
      amount: (i: InvoiceRow) => weiToGlm(BigInt(i.amountWei)),
      cpuSeconds: (i: InvoiceRow) => i.basis.cpuSeconds,
      wallSeconds: (i: InvoiceRow) => i.basis.wallSeconds,
      pricing: (i: InvoiceRow) => i.basis.pricing,
      status: (i: InvoiceRow) => i.status.toUpperCase(),
    },
    ChainTransaction: {
      status: (t: typeof chainTxs.$inferSelect) => t.status.toUpperCase(),
      kind: (t: typeof chainTxs.$inferSelect) => t.kind.toUpperCase(),
    },
  };
}
