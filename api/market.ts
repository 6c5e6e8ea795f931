/** Provider, Offer, Agreement and MarketStats: the market's side of the API. */
import { FailureType } from '../core/failures.js';
import { and, asc, desc, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import { decisiveConstraint, describeCounts, expectedCost, filterOffers, type Demand, type MarketOffer, type Pricing } from '../core/market.js';
import { glmToWei, quoteWei, weiToGlm } from '../core/payments.js';
import { InvalidOfferError, validateOffer, type OfferInput } from '../core/offer.js';
import { parseSize } from '../core/units.js';
import { offerMessage, sameAddress, SIGNED_AT_SKEW_MS, signerOf, withdrawalMessage } from '../core/identity.js';
import { providerTaskQueue } from '../infra/config.js';
import { OPEN_AGREEMENT_STATES } from '../core/leases.js';
import type { SignedDecision } from '../core/policy.js';
import { AnswerRefused } from '../adapters/answers.js';
import { NEUTRAL, isOnline, loadMarketOffers, loadReputations, uptimeOf } from '../adapters/marketData.js';
import { agreements, providers, subtasks, type AgreementState } from '../schema/tables.js';
import type { ApiDeps } from './deps.js';
import { userError } from './errors.js';
import { afterKey, connection, decodeCursor, ms, msKey, pageOf, pageSize, type PageArgs } from './paging.js';
import { glmNumber } from './scalars.js';

type ProviderRow = typeof providers.$inferSelect;
type AgreementRow = typeof agreements.$inferSelect;
type SubtaskRow = typeof subtasks.$inferSelect;

/** Linear interpolation quantiles of a sorted list. */
function quantiles(values: number[]) {
  if (!values.length) return null;
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number) => {
    const pos = (v.length - 1) * q;
    const lo = Math.floor(pos);
    return v[lo] + (v[Math.min(lo + 1, v.length - 1)] - v[lo]) * (pos - lo);
  };
  return { min: v[0], p25: at(0.25), p50: at(0.5), p75: at(0.75), max: v[v.length - 1] };
}

function offerView(m: MarketOffer) {
  return { ...m.offer, online: m.online };
}

/** A provider's row by id, or null (for an absent id too). */
export async function providerById(db: ApiDeps['db'], id: string | null) {
  if (!id) return null;
  return (await db.select().from(providers).where(eq(providers.id, id)))[0] ?? null;
}

type Proof = { signedAt: number; signature: string };

/**
 * Who signed a provider's message, checked against the key its id is bound to (or, for a new
 * id, to be bound to). Refuses a bad signature, a stale or future time, and another key.
 */
async function checkProof(db: ApiDeps['db'], providerId: string, kind: 'Offer' | 'Withdrawal', message: Record<string, unknown>, proof: Proof, opts: { bindIfNew?: boolean } = {}): Promise<string> {
  if (!Number.isSafeInteger(proof.signedAt) || Math.abs(Date.now() - proof.signedAt) > SIGNED_AT_SKEW_MS)
    throw userError(FailureType.BadInput, `proof.signedAt: ${proof.signedAt} is not a time within ${SIGNED_AT_SKEW_MS / 60_000} minutes of now (ms since 1970)`);
  const signer = await signerOf(kind, message, proof.signature);
  if (!signer) throw userError(FailureType.Unauthenticated, `proof.signature: not a valid signature of this ${kind.toLowerCase()} (EIP-712, domain Golemflow v1)`);
  const [row] = await db.select({ identity: providers.identity }).from(providers).where(eq(providers.id, providerId));
  if (!row && opts.bindIfNew === false) throw userError(FailureType.NotFound, `provider ${providerId} is not known`);
  if (row?.identity && !sameAddress(row.identity, signer))
    throw userError(FailureType.Forbidden, `provider ${providerId} is bound to the key of ${row.identity}; this ${kind.toLowerCase()} is signed by ${signer}`);
  return signer;
}

/** An answer as the API received it, checked field by field: the decision the provider signed. */
function answerOf(a: { decision: string; reason?: string | null; pricing?: unknown; signature: string }): SignedDecision {
  const reason = a.reason ?? '';
  if (a.decision === 'accept') return { decision: 'accept', signature: a.signature };
  if (a.decision !== 'reject' && a.decision !== 'counter') throw userError(FailureType.BadInput, `answer.decision: "${a.decision}" is not one of accept, reject, counter`);
  if (!reason) throw userError(FailureType.BadInput, `answer.reason: a ${a.decision} says why`);
  if (a.decision === 'reject') return { decision: 'reject', reason, signature: a.signature };
  const p = a.pricing as Record<string, unknown> | null | undefined;
  const keys = ['start', 'cpuSecond', 'envSecond'] as const;
  if (!p || typeof p !== 'object' || !keys.every((k) => typeof p[k] === 'number' && Number.isFinite(p[k]) && (p[k] as number) >= 0))
    throw userError(FailureType.BadInput, 'answer.pricing: a counter names its prices as { start, cpuSecond, envSecond }, non-negative GLM numbers');
  return { decision: 'counter', reason, pricing: { start: p.start as number, cpuSecond: p.cpuSecond as number, envSecond: p.envSecond as number }, signature: a.signature };
}

export function marketResolvers(deps: ApiDeps) {
  const { db } = deps;
  const livenessMs = deps.config.providerLivenessMs;

  return {
    Query: {
      providers: async (_: unknown, args: PageArgs & { filter?: { onlineOnly?: boolean } }) => {
        const first = pageSize(args.first);
        const rows = await db
          .select()
          .from(providers)
          .where(
            and(
              // isOnline, in SQL, so a page holds `first` online providers.
              args.filter?.onlineOnly ? and(isNull(providers.withdrawnAt), gt(providers.lastSeenAt, new Date(Date.now() - livenessMs))) : undefined,
              args.after ? gt(providers.id, decodeCursor(args.after, ['string'])[0] as string) : undefined,
            ),
          )
          .orderBy(asc(providers.id))
          .limit(first + 1);
        return connection(rows, first, (p) => [p.id]);
      },
      provider: (_: unknown, { id }: { id: string }) => providerById(db, id),
      offers: async (_: unknown, args: PageArgs & { filter?: { onlineOnly?: boolean; minCpus?: number; minMemory?: string; image?: string; maxPrice?: Record<keyof Pricing, string | number> } }) => {
        const { filter } = args;
        // A withdrawn offer is off the market, online or not.
        let offers = await loadMarketOffers(db, livenessMs);
        if (filter?.onlineOnly) offers = offers.filter((m) => m.online);
        const minMemory = filter?.minMemory ? parseSize(filter.minMemory) : 0;
        if (minMemory === undefined) throw userError(FailureType.BadInput, `filter.minMemory: ${JSON.stringify(filter?.minMemory)} is not a size such as 512m`);
        const max = filter?.maxPrice;
        const matching = offers
          .filter((m) => {
            const o = m.offer;
            if (filter?.minCpus && o.cpus < filter.minCpus) return false;
            if (minMemory && o.memoryBytes < minMemory) return false;
            if (filter?.image && !o.images.some((p) => (p.endsWith('*') ? filter.image!.startsWith(p.slice(0, -1)) : p === filter.image))) return false;
            return !max || (o.pricing.start <= glmNumber(max.start) && o.pricing.cpuSecond <= glmNumber(max.cpuSecond) && o.pricing.envSecond <= glmNumber(max.envSecond));
          })
          .map(offerView);
        return pageOf(matching, args, (o) => [o.providerId], ['string']);
      },
      agreements: async (_: unknown, args: PageArgs & { filter?: { jobId?: string; providerId?: string; state?: string[] } }) => {
        const first = pageSize(args.first);
        const { filter } = args;
        const rows = await db
          .select()
          .from(agreements)
          .where(
            and(
              filter?.jobId ? eq(agreements.jobId, filter.jobId) : undefined,
              filter?.providerId ? eq(agreements.providerId, filter.providerId) : undefined,
              filter?.state?.length ? inArray(agreements.state, filter.state.map((s) => s.toLowerCase() as AgreementState)) : undefined,
              args.after ? afterKey([ms(agreements.proposedAt), sql`${agreements.id}`], decodeCursor(args.after, ['string', 'string']), 'desc') : undefined,
            ),
          )
          .orderBy(desc(ms(agreements.proposedAt)), desc(agreements.id))
          .limit(first + 1);
        return connection(rows, first, (a) => [msKey(a.proposedAt), a.id]);
      },
      marketStats: async () => {
        const all = await loadMarketOffers(db, livenessMs);
        const online = all.filter((m) => m.online);
        const [{ n }] = await db
          .select({ n: sql<number>`count(*)::int` })
          .from(agreements)
          .where(inArray(agreements.state, [...OPEN_AGREEMENT_STATES]));
        const [{ total }] = await db.select({ total: sql<number>`count(*)::int` }).from(providers);
        return {
          onlineProviders: online.length,
          totalProviders: total,
          activeAgreements: n,
          prices: {
            start: quantiles(online.map((m) => m.offer.pricing.start)),
            cpuSecond: quantiles(online.map((m) => m.offer.pricing.cpuSecond)),
            envSecond: quantiles(online.map((m) => m.offer.pricing.envSecond)),
          },
        };
      },
    },
    Mutation: {
      publishOffer: async (_: unknown, { input, proof }: { input: OfferInput; proof: Proof }) => {
        let offer;
        try {
          // Prices arrive as GLM (decimal strings, or numbers); the market prices in floats.
          const p = input.pricing as unknown as Record<keyof Pricing, string | number>;
          offer = validateOffer({ ...input, pricing: { start: glmNumber(p.start), cpuSecond: glmNumber(p.cpuSecond), envSecond: glmNumber(p.envSecond) } });
        } catch (e) {
          if (e instanceof InvalidOfferError) throw userError(FailureType.BadInput, e.message, { problems: e.problems });
          throw e;
        }
        const identity = await checkProof(db, offer.providerId, 'Offer', offerMessage(offer.providerId, input, proof.signedAt), proof);
        const now = new Date();
        const values = {
          cpus: offer.cpus,
          memoryBytes: offer.memoryBytes,
          slots: offer.limits.maxConcurrentAgreements,
          offer,
          lastSeenAt: now,
          withdrawnAt: null,
          // Online time grows only across check-ins close enough to count as continuous.
          onlineSeconds: sql`${providers.onlineSeconds} + case when ${providers.withdrawnAt} is null and ${providers.lastSeenAt} > ${new Date(now.getTime() - livenessMs)} then extract(epoch from (${now}::timestamptz - ${providers.lastSeenAt})) else 0 end`,
          identity: sql`coalesce(${providers.identity}, ${identity})`,
        };
        const [row] = await db
          .insert(providers)
          .values({ id: offer.providerId, name: offer.providerId, taskQueue: providerTaskQueue(offer.providerId), ...values, identity, onlineSeconds: 0 })
          .onConflictDoUpdate({ target: providers.id, set: values, where: sql`${providers.identity} is null or lower(${providers.identity}) = lower(${identity})` })
          .returning();
        // Another key bound the id between the check and the write: refuse, as the check would have.
        if (!row) throw userError(FailureType.Forbidden, `provider ${offer.providerId} is bound to another key; this offer is signed by ${identity}`);
        return row;
      },
      answerProposal: async (_: unknown, { agreementId, answer }: { agreementId: string; answer: { decision: string; reason?: string | null; pricing?: unknown; signature: string } }) => {
        if (!deps.answers) throw userError(FailureType.Unavailable, 'this node records no answers (it runs no market)');
        const decision = answerOf(answer);
        try {
          return await deps.answers.record({ agreementId, decision, from: 'provider' });
        } catch (e) {
          if (e instanceof AnswerRefused) throw userError(e.code, e.message);
          throw e;
        }
      },
      withdrawOffer: async (_: unknown, { providerId, proof }: { providerId: string; proof: Proof }) => {
        await checkProof(db, providerId, 'Withdrawal', withdrawalMessage(providerId, proof.signedAt), proof, { bindIfNew: false });
        const [row] = await db.update(providers).set({ withdrawnAt: sql`now()` }).where(eq(providers.id, providerId)).returning();
        if (!row) throw userError(FailureType.NotFound, `provider ${providerId} is not known`);
        return row;
      },
    },
    Provider: {
      online: (p: ProviderRow) => isOnline(p, livenessMs),
      benchmark: (p: ProviderRow) => p.offer?.benchmark ?? null,
      reputation: async (p: ProviderRow) => ((await loadReputations(db, [p.id])).get(p.id) ?? NEUTRAL).reputation,
      history: async (p: ProviderRow) => ((await loadReputations(db, [p.id])).get(p.id) ?? NEUTRAL).history,
      uptime: (p: ProviderRow) => uptimeOf(p),
      offer: (p: ProviderRow) => (p.offer ? { ...p.offer, online: isOnline(p, livenessMs) } : null),
    },
    Offer: {
      provider: (o: { providerId: string }) => providerById(db, o.providerId),
    },
    Agreement: {
      state: (a: AgreementRow) => a.state.toUpperCase(),
      price: (a: AgreementRow) => a.pricing,
      provider: (a: AgreementRow) => providerById(db, a.providerId),
      endedBy: (a: AgreementRow) => a.endedBy?.toUpperCase() ?? null,
    },
    Subtask: {
      agreements: (s: SubtaskRow) =>
        db
          .select()
          .from(agreements)
          .where(and(eq(agreements.jobId, s.jobId), eq(agreements.subtaskIndex, s.index)))
          .orderBy(asc(agreements.proposedAt)),
      agreement: async (s: SubtaskRow) =>
        (
          await db
            .select()
            .from(agreements)
            .where(and(eq(agreements.jobId, s.jobId), eq(agreements.subtaskIndex, s.index), inArray(agreements.state, ['approved', 'terminated'])))
            .orderBy(desc(agreements.attempt), desc(agreements.proposedAt))
            .limit(1)
        )[0] ?? null,
    },
  };
}

/**
 * Before dispatch: can any published offer ever satisfy the demand? Liveness and what was
 * tried do not count here (they change); the offer's terms do. An empty market passes (the
 * job waits for offers).
 */
export async function checkDemandSatisfiable(deps: ApiDeps, demand: Demand): Promise<void> {
  const offers = await loadMarketOffers(deps.db, deps.config.providerLivenessMs, { includeOffline: true });
  if (!offers.length) return;
  const { eligible, counts, excluded } = filterOffers(offers, demand);
  if (eligible.length) return;
  const top = decisiveConstraint(counts)!;
  const detail = excluded.find((e) => e.constraint === top)?.detail;
  throw userError(
    FailureType.NoMatchingOffer,
    `no offer can ever satisfy this demand: ${top} rules out ${counts[top]} of ${offers.length} offers${detail ? ` (e.g. ${detail})` : ''}; excluded ${describeCounts(counts)}`,
    { excludedCounts: counts, offers: offers.length },
  );
}

export interface Quote {
  /** Expected cost of the whole job, wei as decimal text, and in GLM. */
  wei: string;
  glm: string;
  /** Expected cost of one run (one copy of one subtask), GLM. */
  perRun: number;
  runs: number;
  offersPriced: number;
  basis: string;
}

/**
 * The market's quote for a job before it runs: every subtask on `redundancy` providers for the
 * demand's estimated seconds, at the median expected cost among the offers it could use
 * (live ones first). With no such offer, the demand's highest prices; with none of those, 0.
 */
export async function quoteJob(deps: ApiDeps, demand: Demand, subtasks: number, redundancy: number): Promise<Quote> {
  const offers = await loadMarketOffers(deps.db, deps.config.providerLivenessMs, { includeOffline: true });
  const live = filterOffers(offers.filter((o) => o.online), demand).eligible;
  const usable = live.length ? live : filterOffers(offers.map((o) => ({ ...o, online: true })), demand).eligible;
  const costs = usable.map((o) => expectedCost(o.offer.pricing, demand.minCpus, demand.estimateSeconds)).sort((a, b) => a - b);
  let perRun: number;
  let basis: string;
  if (costs.length) {
    perRun = costs[Math.floor((costs.length - 1) / 2)];
    basis = `median of ${costs.length} offers at ${demand.minCpus} cpus for ${demand.estimateSeconds} s`;
  } else {
    const p = { start: demand.maxPrice.start ?? 0, cpuSecond: demand.maxPrice.cpuSecond ?? 0, envSecond: demand.maxPrice.envSecond ?? 0 };
    perRun = expectedCost(p, demand.minCpus, demand.estimateSeconds);
    basis = 'no offer to price it: the demand\'s highest prices';
  }
  // Prices are floats: to the nano-GLM, so 0.1 is not quoted as 0.09999999999999999.
  perRun = Math.round(perRun * 1e9) / 1e9;
  const runs = subtasks * redundancy;
  const wei = quoteWei(subtasks, redundancy, perRun);
  return { wei: String(wei), glm: weiToGlm(wei), perRun, runs, offersPriced: costs.length, basis };
}

/** Refuses a paid job whose quote is above its budget, with the quote. */
export async function checkBudget(deps: ApiDeps, demand: Demand, budget: string, subtasks: number, redundancy: number): Promise<Quote> {
  const quote = await quoteJob(deps, demand, subtasks, redundancy);
  if (BigInt(quote.wei) > glmToWei(budget))
    throw userError(
      FailureType.BudgetTooLow,
      `the budget of ${budget} GLM is below the market's quote of ${quote.glm} GLM (${quote.runs} runs × ${quote.perRun} GLM, ${quote.basis}); raise budget.amount or lower the redundancy`,
      { quote },
    );
  return quote;
}

/**
 * Refuses a paid job whose budget is more than the requestor's wallet holds: it could never be
 * locked. When the chain does not answer in a few seconds the job is accepted (its lock waits,
 * and says why; a cancel ends the wait).
 */
export async function checkWallet(deps: ApiDeps, budget: string): Promise<void> {
  if (!deps.chain) return;
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000).unref());
  const balance = await Promise.race([
    deps
      .chain()
      .then((chain) => chain.tokenBalance(chain.account).then((wei) => ({ wei, account: chain.account })))
      .catch(() => null),
    timeout,
  ]);
  if (balance && glmToWei(budget) > balance.wei)
    throw userError(FailureType.InsufficientFunds, `the budget of ${budget} GLM is more than the requestor's wallet ${balance.account} holds (${weiToGlm(balance.wei)} GLM); it could never be locked`, {
      balance: weiToGlm(balance.wei),
    });
}
