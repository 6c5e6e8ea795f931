/**
 * Market activities on the requestor's queue: match a subtask's demand against the live offers,
 * propose an agreement to the best provider with capacity (stored with the full explanation),
 * and record the provider's decision. Placement is serialised by an advisory lock so two
 * subtasks cannot take a provider's last slot together, and goes in batches (adapters/placement.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { JobEventType } from '../core/events.js';
import { FailureType } from '../core/failures.js';
import type { Demand } from '../core/market.js';
import type { Proposal } from '../core/policy.js';
import type { Db } from '../schema/db.js';
import { agreements, providers, subtasks } from '../schema/tables.js';
import type { CapacitySignal } from '../adapters/capacity.js';
import { NEUTRAL, cachedReputations } from '../adapters/marketData.js';
import { AnswerRefused, createAnswerBook, demandOf, type AnswerBook, type AnswerGiven, type AnswerOutcome } from '../adapters/answers.js';
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
  /** Where answers are recorded (shared with the API's answerProposal); made here when absent. */
  answers?: AnswerBook;
}

/** What proposeAgreement found. */
export type ProposeResult =
  | { kind: 'proposed'; agreementId: string; providerId: string; taskQueue: string; proposal: Proposal; track: { accepted: number; reputation: number } }
  | { kind: 'noMatch'; explanation: string };

/**
 * Records an answer as it reached a subtask's workflow (decideAgreement, and finishAttempt with
 * the run it came back with); an agreement that does not exist fails the activity for good.
 */
export async function recordWorkflowAnswer(answers: AnswerBook, o: { agreementId: string; copy: number; decision: AnswerGiven }): Promise<AnswerOutcome> {
  try {
    return await answers.record({ ...o, from: 'workflow' });
  } catch (e) {
    if (e instanceof AnswerRefused) throw ApplicationFailure.nonRetryable(e.message, 'AgreementNotFound');
    throw e;
  }
}

export function createMarketActivities(deps: MarketDeps) {
  const { db } = deps;
  const livenessMs = deps.providerLivenessMs ?? 15_000;
  const slotWaitMs = deps.slotWaitMs ?? 10_000;
  const reputations = cachedReputations(db);
  // Answers reach the market from the workflow and from the provider (api): one record of them.
  const answers = deps.answers ?? createAnswerBook(deps);
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

  async function loadDemand(jobId: string): Promise<Demand> {
    const demand = await demandOf(db, jobId);
    if (!demand) throw ApplicationFailure.nonRetryable(`job ${jobId} does not exist`, 'JobNotFound');
    return demand;
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
      // A retry finds the agreement an earlier try proposed (it may have committed, then timed
      // out). A first try has none to find: a declined or expired proposal is decided before
      // the workflow asks again for the same attempt.
      const open = Context.current().info.attempt > 1
        ? await db
            .select()
            .from(agreements)
            .where(and(eq(agreements.jobId, jobId), eq(agreements.subtaskIndex, index), eq(agreements.attempt, attempt), eq(agreements.state, 'proposed')))
        : [];
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
        const placed = await placements.submit({ jobId, index, attempt, exclude, avoid, demand, describeBusy, workflowId: Context.current().info.workflowExecution?.workflowId });
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
     * Records the provider's answer as it reached the workflow (adapters/answers.ts): an
     * accepted proposal (or a counter-proposal within the demand's highest prices) becomes an
     * approved agreement and the attempt starts under it.
     */
    async decideAgreement({ agreementId, copy = 0, decision }: { agreementId: string; copy?: number; decision: AnswerGiven }): Promise<AnswerOutcome> {
      return recordWorkflowAnswer(answers, { agreementId, copy, decision });
    },
  };
}

export type MarketActivities = ReturnType<typeof createMarketActivities>;
