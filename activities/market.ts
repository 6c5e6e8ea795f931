/**
 * Market activities on the requestor's queue: match a subtask's demand against the live offers,
 * propose an agreement to the best provider with capacity (stored with the full explanation),
 * and record the provider's decision. Placement is serialised by an advisory lock so two
 * subtasks cannot take a provider's last slot together, and goes in batches (adapters/placement.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { demandFromSpec } from '../core/demand.js';
import type { JobEventType } from '../core/events.js';
import { FailureType } from '../core/failures.js';
import { type Demand, type Pricing } from '../core/market.js';
import { decisionTerms, type Proposal, type SignedDecision } from '../core/policy.js';
import { answerMessage, sameAddress, signerOf } from '../core/identity.js';
import type { Db } from '../schema/db.js';
import { agreements, attempts, providers, subtasks } from '../schema/tables.js';
import type { CapacitySignal } from '../adapters/capacity.js';
import { NEUTRAL, cachedReputations, immutableFacts } from '../adapters/marketData.js';
import { placeBatch, type PlacementOutcome, type PlacementRequest } from '../adapters/placement.js';
import { GroupCommit } from '../infra/groupCommit.js';
import { quietHeartbeat } from '../infra/heartbeat.js';
import type { SubtaskRef } from './types.js';

export interface MarketDeps {
  db: Db;
  capacity: CapacitySignal;
  providerLivenessMs?: number;
  /** How long proposeAgreement waits for a free slot before it fails (and is retried). */
  slotWaitMs?: number;
  addEvent(jobId: string, key: string, type: JobEventType, fields?: { subtaskIndex?: number; providerId?: string; message?: string }): Promise<void>;
}

/** What proposeAgreement found. */
export type ProposeResult =
  | { kind: 'proposed'; agreementId: string; providerId: string; taskQueue: string; proposal: Proposal; track: { accepted: number; reputation: number } }
  | { kind: 'noMatch'; explanation: string };

function withinMax(p: Pricing, d: Demand): boolean {
  return (['start', 'cpuSecond', 'envSecond'] as const).every((k) => d.maxPrice[k] === undefined || p[k] <= d.maxPrice[k]!);
}

export function createMarketActivities(deps: MarketDeps) {
  const { db } = deps;
  const livenessMs = deps.providerLivenessMs ?? 15_000;
  const slotWaitMs = deps.slotWaitMs ?? 10_000;
  const reputations = cachedReputations(db);
  const facts = immutableFacts(db);
  /**
   * Placements go to the database in batches (infra/groupCommit.ts), one batch at a time under
   * the placement lock: each placement's transaction was about ten statements, and at 200
   * waiting subtasks they queued behind each other for seconds while slots stood free (a
   * placement under load took 200-500 ms, so the market placed 4 or 5 a second). A batch reads
   * the offers once and decides its placements in order, each seeing the load of those before it.
   */
  const placements = new GroupCommit<PlacementRequest, PlacementOutcome>(async (requests) => {
    // Read outside the transaction: PGlite has one connection, and a query on `db` while the
    // transaction holds it would wait for ever.
    const known = await reputations();
    return db.transaction((tx) => placeBatch(tx as unknown as Db, requests, livenessMs, known));
  });

  /** A provider's record, for adaptive verification (from the same cache placement reads). */
  async function trackOf(providerId: string): Promise<{ accepted: number; reputation: number }> {
    const r = (await reputations()).get(providerId) ?? NEUTRAL;
    return { accepted: r.history.accepted, reputation: r.reputation };
  }

  /** Why a provider's signed message does not count (null when its bound key signed it). */
  async function unsignedBy(providerId: string, kind: 'Answer', message: Record<string, unknown>, signature: string | undefined): Promise<string | null> {
    const identity = await facts.providerKey(providerId);
    if (!identity) return `provider ${providerId} has no key bound to it`;
    const signer = await signerOf(kind, message, signature);
    if (!signer) return `it carries no valid signature`;
    return sameAddress(signer, identity) ? null : `it is signed by ${signer}, not by ${providerId}'s key ${identity}`;
  }

  async function loadDemand(jobId: string): Promise<Demand> {
    const job = await facts.job(jobId);
    if (!job) throw ApplicationFailure.nonRetryable(`job ${jobId} does not exist`, 'JobNotFound');
    return demandFromSpec(job.spec, job.requestorId);
  }

  return {
    /**
     * Chooses the best eligible provider with a free slot for an attempt and stores a proposed
     * agreement with the explanation. Providers in `exclude` (those that returned a result for
     * this subtask) and those holding a copy of it are never candidates; those in `avoid`
     * (they failed it) only when no other is eligible. With no eligible offer it answers noMatch with the
     * reasons; with eligible offers all busy it waits, then fails so Temporal retries it.
     */
    async proposeAgreement({ jobId, index, attempt, exclude, avoid = [], waited }: SubtaskRef & { attempt: number; exclude: string[]; avoid?: string[]; waited?: boolean }): Promise<ProposeResult> {
      const open = await db
        .select()
        .from(agreements)
        .where(and(eq(agreements.jobId, jobId), eq(agreements.subtaskIndex, index), eq(agreements.attempt, attempt), eq(agreements.state, 'proposed')));
      const demand = await loadDemand(jobId);
      const proposalOf = (a: typeof agreements.$inferSelect): Proposal => ({
        agreementId: a.id,
        requestorId: a.requestorId,
        jobId,
        subtaskIndex: index,
        image: demand.image,
        pricing: a.pricing,
        maxDurationSeconds: a.maxDurationSeconds,
      });
      if (open[0]) {
        const [p] = await db.select({ taskQueue: providers.taskQueue }).from(providers).where(eq(providers.id, open[0].providerId));
        return { kind: 'proposed', agreementId: open[0].id, providerId: open[0].providerId, taskQueue: p.taskQueue, proposal: proposalOf(open[0]), track: await trackOf(open[0].providerId) };
      }

      const tryPropose = async (describeBusy: boolean) => {
        const placed = await placements.submit({ jobId, index, attempt, exclude, avoid, demand, describeBusy });
        if (placed.kind !== 'proposed') return placed;
        const { row, taskQueue } = placed;
        return { kind: 'proposed' as const, agreementId: row.id, providerId: row.providerId, taskQueue, proposal: proposalOf(row), track: { accepted: 0, reputation: 0 } };
      };

      // Wait here a while for a slot, woken when one frees in this process or when it is this
      // waiter's turn to look (adapters/capacity.ts); only then fail, so that Temporal's retry
      // takes over without filling the history. A cancelled placement stops when its
      // heartbeat brings the cancellation (the first after a quiet second: infra/heartbeat.ts).
      const ctx = Context.current();
      const heartbeat = quietHeartbeat(ctx);
      const waitUntil = Date.now() + slotWaitMs;
      const NOTE_EVERY_MS = 5000;
      let notedAt = Date.now();
      // A retried placement that finds others waiting joins them without a look of its own: they
      // hear of every slot that frees here, and the longest waiter looks for the rest.
      const joinWaiters = ctx.info.attempt > 1 && deps.capacity.waiting > 0;
      let result = joinWaiters ? ({ kind: 'busy', note: null } as const) : await tryPropose(true);
      let noted: string | null = null;
      while (result.kind === 'busy') {
        if (result.note !== null && result.note !== noted) {
          noted = result.note;
          await db
            .update(subtasks)
            .set({ status: 'waiting', note: result.note, waitingSince: sql`coalesce(${subtasks.waitingSince}, now())` })
            .where(and(eq(subtasks.jobId, jobId), eq(subtasks.index, index), inArray(subtasks.status, ['pending', 'scheduled', 'waiting'])));
        }
        const left = waitUntil - Date.now();
        if (left <= 0) throw ApplicationFailure.retryable(`every eligible provider is busy for subtask ${index} of ${jobId}${noted ? `: ${noted}` : ''}`, FailureType.NoProviderAvailable);
        heartbeat();
        const wake = await Promise.race([deps.capacity.wait(left), ctx.cancelled]);
        if (wake === null) continue;
        const describe = Date.now() - notedAt >= NOTE_EVERY_MS;
        if (describe) notedAt = Date.now();
        result = await tryPropose(describe);
        // A freed slot this subtask cannot take may suit the next waiter; a look that found one may have found more.
        deps.capacity.after(wake, result.kind === 'proposed');
      }
      if (result.kind === 'ended') throw ApplicationFailure.nonRetryable(`no agreement is proposed: ${result.reason}`, FailureType.SubtaskEnded);
      if (result.kind === 'noMatch') {
        await db
          .update(subtasks)
          .set({ status: 'waiting', note: `waiting for offers: ${result.explanation}`, waitingSince: sql`coalesce(${subtasks.waitingSince}, now())` })
          .where(and(eq(subtasks.jobId, jobId), eq(subtasks.index, index)));
        await deps.addEvent(jobId, `waiting/${index}/${attempt}`, 'subtaskWaitingForOffers', { subtaskIndex: index, message: result.explanation });
      } else {
        // A subtask that waited has a slot now: its note no longer holds. Only a wait noted here,
        // in an earlier try, or by a look that found no offer (`waited`; workflows from before
        // it do not say) left one: otherwise there is nothing to clear.
        if (noted !== null || ctx.info.attempt > 1 || waited !== false)
          await db
            .update(subtasks)
            .set({ status: 'scheduled', note: null, waitingSince: null })
            .where(and(eq(subtasks.jobId, jobId), eq(subtasks.index, index), eq(subtasks.status, 'waiting')));
        result.track = await trackOf(result.providerId);
        await deps.addEvent(jobId, `proposed/${result.agreementId}`, 'agreementProposed', { subtaskIndex: index, providerId: result.providerId, message: result.agreementId });
      }
      return result;
    },

    /**
     * Records the provider's answer. An accepted proposal (or a counter-proposal within the
     * demand's highest prices) becomes an approved agreement and the attempt starts under it.
     */
    async decideAgreement({ agreementId, copy = 0, decision: given }: { agreementId: string; copy?: number; decision: SignedDecision | { decision: 'expired'; reason: string } }): Promise<{ approved: boolean; reason: string | null }> {
      const [a] = await db.select().from(agreements).where(eq(agreements.id, agreementId));
      if (!a) throw ApplicationFailure.nonRetryable(`agreement ${agreementId} does not exist`, 'AgreementNotFound');
      const attemptRow = { jobId: a.jobId, subtaskIndex: a.subtaskIndex, number: a.attempt, copy, providerId: a.providerId, agreementId, status: 'running' as const };
      // Decided already (this is a retry): the stored reason says how. An approval's attempt row
      // is made again if the try that approved died before writing it (its result must be
      // judged and paid like any other).
      if (a.state !== 'proposed') {
        const approved = a.state === 'approved' || (a.decisionReason?.startsWith('approved') ?? false);
        if (approved) await db.insert(attempts).values(attemptRow).onConflictDoNothing();
        return { approved, reason: a.decisionReason };
      }
      // An answer counts only when signed by the key the provider's id is bound to: whoever else
      // polled its queue (a rogue worker) answered nothing.
      let decision = given;
      if (decision.decision !== 'expired') {
        const refused = await unsignedBy(a.providerId, 'Answer', answerMessage(agreementId, decision.decision, decisionTerms(decision)), decision.signature);
        if (refused) {
          decision = { decision: 'reject', reason: `intrusion: ${refused}` };
          await deps.addEvent(a.jobId, `intrusion/${agreementId}`, 'intrusion', { subtaskIndex: a.subtaskIndex, providerId: a.providerId, message: `the answer to ${agreementId} was refused: ${refused}` });
        }
      }
      let state: 'approved' | 'rejected' | 'expired';
      let reason: string;
      let pricing = a.pricing;
      if (decision.decision === 'accept') {
        state = 'approved';
        reason = 'approved: proposal accepted';
      } else if (decision.decision === 'counter') {
        // Only a counter-proposal needs the demand: is its price within the highest accepted?
        if (withinMax(decision.pricing, await loadDemand(a.jobId))) {
          state = 'approved';
          pricing = decision.pricing;
          reason = `approved: counter-proposal accepted (${decision.reason})`;
        } else {
          state = 'rejected';
          reason = `counter-proposal above the demand's highest price (${decision.reason})`;
        }
      } else if (decision.decision === 'expired') {
        state = 'expired';
        reason = decision.reason;
      } else {
        state = 'rejected';
        reason = decision.reason;
      }
      // The decision and, for an approval, the attempt it starts: together or not at all. An
      // agreement ended meanwhile (its subtask ended) stays ended: nothing starts under it.
      const decided = await db.transaction(async (tx) => {
        const rows = await tx
          .update(agreements)
          .set({ state, pricing, decisionReason: reason, decidedAt: sql`now()` })
          .where(and(eq(agreements.id, agreementId), eq(agreements.state, 'proposed')))
          .returning({ id: agreements.id });
        if (rows.length && state === 'approved') await tx.insert(attempts).values(attemptRow).onConflictDoNothing();
        return rows.length > 0;
      });
      if (!decided) {
        const [now] = await db.select({ state: agreements.state, decisionReason: agreements.decisionReason }).from(agreements).where(eq(agreements.id, agreementId));
        return { approved: now?.state === 'approved', reason: now?.decisionReason ?? null };
      }
      if (state !== 'approved') {
        deps.capacity.freed();
        await deps.addEvent(a.jobId, `decided/${agreementId}`, state === 'expired' ? 'agreementExpired' : 'agreementRejected', {
          subtaskIndex: a.subtaskIndex,
          providerId: a.providerId,
          message: reason,
        });
        return { approved: false, reason };
      }
      await db
        .update(subtasks)
        .set({ status: 'running', providerId: a.providerId, attemptCount: a.attempt, note: null, startedAt: sql`now()` })
        .where(and(eq(subtasks.jobId, a.jobId), eq(subtasks.index, a.subtaskIndex)));
      await deps.addEvent(a.jobId, `decided/${agreementId}`, 'agreementApproved', { subtaskIndex: a.subtaskIndex, providerId: a.providerId, message: reason });
      await deps.addEvent(a.jobId, `started/${a.subtaskIndex}/${a.attempt}`, 'subtaskStarted', {
        subtaskIndex: a.subtaskIndex,
        providerId: a.providerId,
        message: `attempt ${a.attempt}`,
      });
      return { approved: true, reason };
    },
  };
}

export type MarketActivities = ReturnType<typeof createMarketActivities>;
