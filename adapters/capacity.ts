/**
 * Wakes placements waiting for a free provider slot, in the order they began to wait.
 *
 * - A slot freed in this process (an agreement ended) wakes the longest waiter at once. A slot
 *   that waiter cannot use (the provider is excluded for it, say) is passed on to the next
 *   waiter, at most once round all who waited when it freed.
 * - What this process cannot see (slots freed by another requestor node, providers coming
 *   online) is found by polling, but only the longest waiter looks, once per poll interval, and
 *   then waits again at the back: every waiter looking on its own timer was a placement
 *   transaction per waiter every few seconds, and at 200 waiting subtasks those queued behind
 *   each other (one placement at a time) for seconds while slots stood free.
 * - A look that finds a slot may have found more (a provider came online): the next waiter
 *   looks too, and so on until a look finds nothing.
 */

/** What woke a waiter: a freed slot (with how many further waiters it may be passed to), a look, or its deadline. */
export type Wake = { freed: number } | 'look' | null;

export class CapacitySignal {
  private waiters: Array<(wake: Wake) => void> = [];
  private poller: NodeJS.Timeout | null = null;

  /** `pollMs`: how often the longest waiter looks for slots this process did not see free. */
  constructor(private readonly pollMs = 2000) {}

  /** Placements waiting now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves when a slot frees here, when it is this waiter's turn to look, or with null after `ms`. */
  wait(ms: number): Promise<Wake> {
    return new Promise((resolve) => {
      const done = (wake: Wake) => {
        clearTimeout(timer);
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        if (!this.waiters.length) this.stopPolling();
        resolve(wake);
      };
      const timer = setTimeout(() => done(null), ms);
      this.waiters.push(done);
      if (!this.poller) {
        this.poller = setInterval(() => this.waiters[0]?.('look'), this.pollMs);
        // A poll alone must not keep a process alive.
        this.poller.unref();
      }
    });
  }

  /** `slots` slots freed: as many of the longest waiters look again. */
  freed(slots = 1): void {
    for (let i = 0; i < slots; i++) {
      const next = this.waiters[0];
      next?.({ freed: this.waiters.length - 1 });
    }
  }

  /**
   * After a waiter's look: `placed` says whether it got a slot. A freed slot it could not use
   * goes to the next waiter (while hops remain); a look that found a slot has the next waiter
   * look too.
   */
  after(wake: Wake, placed: boolean): void {
    if (wake === null) return;
    if (wake === 'look') {
      if (placed) this.waiters[0]?.('look');
      return;
    }
    if (!placed && wake.freed > 0) this.waiters[0]?.({ freed: wake.freed - 1 });
  }

  private stopPolling(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
  }
}
