/**
 * A provider's answer to a proposal, recorded: an approval (or a counter-proposal within the
 * demand's highest prices) makes the agreement approved and starts its attempt; a rejection or
 * an expiry frees the slot. Two ways in, one record: the subtask workflow's decideAgreement
 * activity, and the provider itself through the API (answerProposal) when it reviews the
 * proposal as the run arrives, so the subtask shows running while it runs. Whichever comes
 * first decides; the other finds it decided and reads the outcome.
 */
import { and, eq, sql } from 'drizzle-orm';
import { demandFromSpec } from '../core/demand.js';
import type { JobEventType } from '../core/events.js';
import { FailureType, GolemflowError } from '../core/failures.js';
import { answerMessage, sameAddress, signerOf } from '../core/identity.js';
import type { Demand, Pricing } from '../core/market.js';
import { decisionTerms, type SignedDecision } from '../core/policy.js';
import type { Db } from '../schema/db.js';
import { agreements, attempts, subtasks } from '../schema/tables.js';
import type { CapacitySignal } from './capacity.js';
import { immutableFacts } from './marketData.js';

export interface AnswerDeps {
  db: Db;
  capacity: CapacitySignal;
  addEvent(jobId: string, key: string, type: JobEventType, fields?: { subtaskIndex?: number; providerId?: string; message?: string }): Promise<void>;
}

/** An answer, or the requestor's note that none came. */
export type AnswerGiven = SignedDecision | { decision: 'expired'; reason: string };

export interface AnswerOutcome {
  approved: boolean;
  reason: string | null;
}

/** An agreement that does not exist, or an answer refused because the provider's key did not sign it. */
export class AnswerRefused extends GolemflowError {
  constructor(code: FailureType, message: string) {
    super(code, message);
  }
}

/** The demand of a job, from its spec (read once per job: a job's spec never changes). */
export async function demandOf(db: Db, jobId: string): Promise<Demand | null> {
  const job = await immutableFacts(db).job(jobId);
  return job ? demandFromSpec(job.spec, job.requestorId) : null;
}

function withinMax(p: Pricing, d: Demand): boolean {
  return (['start', 'cpuSecond', 'envSecond'] as const).every((k) => d.maxPrice[k] === undefined || p[k] <= d.maxPrice[k]!);
}

export function createAnswerBook(deps: AnswerDeps) {
  const { db } = deps;
  const facts = immutableFacts(db);

  /** Why a provider's signed answer does not count (null when its bound key signed it). */
  async function unsignedBy(providerId: string, message: Record<string, unknown>, signature: string | undefined): Promise<string | null> {
    const identity = await facts.providerKey(providerId);
    if (!identity) return `provider ${providerId} has no key bound to it`;
    const signer = await signerOf('Answer', message, signature);
    if (!signer) return `it carries no valid signature`;
    return sameAddress(signer, identity) ? null : `it is signed by ${signer}, not by ${providerId}'s key ${identity}`;
  }

  return {
    /**
     * Records an answer. `from: 'workflow'`: what reached the subtask's workflow (through the
     * provider's queue, which anyone may poll): an unsigned answer is recorded as a rejection
     * and an intrusion. `from: 'provider'`: what reached the API, which anyone may call: an
     * unsigned answer is refused and changes nothing (else a stranger could reject others' work).
     */
    async record({ agreementId, copy = 0, decision: given, from }: { agreementId: string; copy?: number; decision: AnswerGiven; from: 'workflow' | 'provider' }): Promise<AnswerOutcome> {
      // Not the explanation: the market's reasons, kilobytes of JSON the answer does not need.
      const [a] = await db
        .select({
          jobId: agreements.jobId,
          subtaskIndex: agreements.subtaskIndex,
          attempt: agreements.attempt,
          providerId: agreements.providerId,
          state: agreements.state,
          decisionReason: agreements.decisionReason,
          pricing: agreements.pricing,
        })
        .from(agreements)
        .where(eq(agreements.id, agreementId));
      if (!a) throw new AnswerRefused(FailureType.NotFound, `agreement ${agreementId} does not exist`);
      const attemptRow = { jobId: a.jobId, subtaskIndex: a.subtaskIndex, number: a.attempt, copy, providerId: a.providerId, agreementId, status: 'running' as const };
      const unsigned = () => (given.decision === 'expired' ? null : unsignedBy(a.providerId, answerMessage(agreementId, given.decision, decisionTerms(given)), given.signature));
      // Through the API only the provider's key is heard, whatever the agreement's state (a stranger learns nothing of it).
      if (from === 'provider') {
        const refused = await unsigned();
        if (refused) throw new AnswerRefused(FailureType.Forbidden, `the answer to ${agreementId} is refused: ${refused}`);
      }
      // Decided already (a retry, or the other way in came first): the stored reason says how.
      // An approval's attempt row is made again if the try that approved died before writing
      // it (its result must be judged and paid like any other).
      if (a.state !== 'proposed') {
        const approved = a.state === 'approved' || (a.decisionReason?.startsWith('approved') ?? false);
        if (approved) await db.insert(attempts).values(attemptRow).onConflictDoNothing();
        return { approved, reason: a.decisionReason };
      }
      // An answer counts only when signed by the key the provider's id is bound to: whoever else
      // polled its queue (a rogue worker) answered nothing.
      let decision = given;
      if (from === 'workflow') {
        const refused = await unsigned();
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
        const demand = await demandOf(db, a.jobId);
        if (demand && withinMax(decision.pricing, demand)) {
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

export type AnswerBook = ReturnType<typeof createAnswerBook>;
