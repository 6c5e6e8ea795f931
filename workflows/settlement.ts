/**
 * A paid job's money inside its workflow: the budget lock (which a cancel may end while it
 * waits), raising the budget (an update), paying accepted results in batches while the job
 * runs, and at the end paying what the budget covers and returning the rest. The job workflow
 * calls it at fixed points; every chain write is an activity on the requestor's queue.
 * Deterministic: workflow APIs and activity types only.
 */
import { CancellationScope, condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { PaymentActivities } from '../activities/payments.js';
import { glmAmountProblem } from '../core/glm.js';
import { chainWrite } from './activityOptions.js';
import { raiseBudgetUpdate, type JobInput, type JobProgress } from './definitions.js';

const payments = proxyActivities<PaymentActivities>(chainWrite);

/** Marks histories in which a cancel can end a budget lock that waits (patched() keeps older ones replaying). */
const CANCELLABLE_LOCK = 'cancellable-budget-lock';

/** Accepted results paid together in one transaction, at most this many seconds after the first. */
const SETTLE_BATCH = 10;
const SETTLE_EVERY = '15 seconds';

export class Settlement {
  /** The locked budget in wei; null: the job pays no one. */
  budget: bigint | null;
  spent: bigint;
  raises: number;
  private unsettled = 0;
  private stopSettling = false;
  private settling: Promise<void> | null = null;

  constructor(
    private readonly jobId: string,
    private readonly progress: JobProgress,
    resume: JobInput['resume'],
    /** Why the job was cancelled, once it was. */
    private readonly cancelReason: () => string | null,
  ) {
    this.budget = resume?.budgetWei ? BigInt(resume.budgetWei) : null;
    this.spent = BigInt(resume?.spentWei ?? '0');
    this.raises = resume?.raises ?? 0;
    setHandler(
      raiseBudgetUpdate,
      async (amount: string) => {
        const r = await payments.increaseBudget({ jobId, amount, step: String(this.raises++) });
        this.budget = BigInt(r.lockedWei);
        progress.budgetWei = r.lockedWei;
        return { budgetWei: r.lockedWei };
      },
      {
        validator: (amount: string) => {
          if (this.budget === null) throw new Error(`job ${jobId} has no budget to raise (it pays no one)`);
          if (glmAmountProblem(amount)) throw new Error(`amount: ${JSON.stringify(amount)} is not a positive amount of GLM (a decimal such as 2.5)`);
        },
      },
    );
  }

  /**
   * Locks a new job's budget in the escrow. The lock may wait long (the chain down, the wallet
   * short): a cancel ends the wait, and then nothing was locked ('cancelled').
   */
  async lock(budgetWei: string): Promise<'locked' | 'cancelled'> {
    this.budget = BigInt(budgetWei);
    this.progress.budgetWei = budgetWei;
    if (!patched(CANCELLABLE_LOCK)) {
      await payments.lockBudget({ jobId: this.jobId });
      return 'locked';
    }
    const lock = new CancellationScope();
    const locking = lock.run(() => payments.lockBudget({ jobId: this.jobId }));
    const first = await Promise.race([locking.then(() => 'locked' as const), condition(() => !!this.cancelReason()).then(() => 'cancelled' as const)]);
    if (first === 'locked') return 'locked';
    lock.cancel();
    await locking.catch(() => undefined);
    await CancellationScope.nonCancellable(() => payments.abandonLock({ jobId: this.jobId }));
    // Nothing was locked, so nothing is settled.
    this.budget = null;
    this.progress.budgetWei = null;
    return 'cancelled';
  }

  /** Pays accepted results in batches while the job runs (a paid job only). */
  startPaying(): void {
    if (this.budget === null) return;
    this.settling = CancellationScope.nonCancellable(async () => {
      while (!this.stopSettling) {
        await condition(() => this.unsettled >= SETTLE_BATCH || this.stopSettling, SETTLE_EVERY);
        if (this.unsettled > 0 && !this.stopSettling) {
          this.unsettled = 0;
          await payments.settlePayments({ jobId: this.jobId });
        }
      }
    });
  }

  /** A subtask's accepted result cost this much: it waits for the next batch. */
  owe(costWei: string | undefined): void {
    const cost = BigInt(costWei ?? '0');
    if (cost <= 0n) return;
    this.spent += cost;
    this.progress.spentWei = String(this.spent);
    this.unsettled++;
  }

  /** The spending cap is reached: no new work until the budget is raised. */
  get capReached(): boolean {
    return this.budget !== null && this.spent >= this.budget;
  }

  /** Before continuing as new: the batches stop and what is owed is paid, so the next run starts clean. */
  async payBeforeRollover(): Promise<void> {
    this.stopSettling = true;
    await this.settling;
    if (this.unsettled > 0) await payments.settlePayments({ jobId: this.jobId });
  }

  /** At the end, whatever happened: pay every accepted result the budget covers, return the rest. */
  async settleAll(): Promise<void> {
    if (this.budget === null) return;
    this.stopSettling = true;
    await this.settling;
    const r = await payments.settlePayments({ jobId: this.jobId });
    if (r.overBudget > 0 && !this.cancelReason()) {
      this.progress.status = 'paused';
      this.progress.note = `${r.overBudget} accepted results wait for payment: the budget is spent; raise it (raiseBudget) or cancel the job`;
      const before = this.budget;
      await condition(() => this.budget !== before || !!this.cancelReason());
      this.progress.note = null;
      return this.settleAll();
    }
    await payments.closeAllocation({ jobId: this.jobId });
  }

  /** What a continued run carries over. */
  carried(): { spentWei: string; budgetWei: string | null; raises: number } {
    return { spentWei: String(this.spent), budgetWei: this.budget === null ? null : String(this.budget), raises: this.raises };
  }
}
