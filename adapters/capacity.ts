/**
 * Wakes placements waiting for a free provider slot when an agreement ends in this process: the
 * longest waiter looks again at once. A slot that waiter cannot use (the provider is excluded
 * for it, say) is passed on to the next waiter, at most once round all who waited when it
 * freed; the waiters also look again now and then on their own, which sees other processes.
 */
export class CapacitySignal {
  private waiters: Array<(hops: number | null) => void> = [];

  /**
   * Resolves when a slot frees here (with how many further waiters it may still be passed to),
   * or with null after `ms`.
   */
  wait(ms: number): Promise<number | null> {
    return new Promise((resolve) => {
      const done = (hops: number | null) => {
        clearTimeout(timer);
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(hops);
      };
      const timer = setTimeout(() => done(null), ms);
      this.waiters.push(done);
    });
  }

  /** `slots` slots freed: as many of the longest waiters look again. */
  freed(slots = 1): void {
    for (let i = 0; i < slots; i++) {
      const next = this.waiters.shift();
      next?.(this.waiters.length);
    }
  }

  /** A waiter woken by a slot it could not use hands it to the next one (`hops` from its wait). */
  pass(hops: number | null): void {
    if (hops === null || hops <= 0) return;
    this.waiters.shift()?.(hops - 1);
  }
}
