/**
 * Wakes placements waiting for a free provider slot when an agreement ends in this process, so
 * the longest waiter looks again at once; the others poll (which also sees other processes).
 */
export class CapacitySignal {
  private waiters: Array<() => void> = [];

  /** Resolves when capacity frees here, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }

  /** `slots` slots freed: as many of the longest waiters look again. */
  freed(slots = 1): void {
    for (let i = 0; i < slots; i++) this.waiters.shift()?.();
  }
}
