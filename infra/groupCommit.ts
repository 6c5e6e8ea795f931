/**
 * Writes that go to the database in batches, one batch at a time (group commit): what arrives
 * while a batch is being written waits, and goes together in the next one. Under load a queue
 * of one-at-a-time transactions pays each one's round trips in turn; a batch pays them once.
 * Waiting holds no pooled connection.
 */
export class GroupCommit<T, R> {
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private running = false;

  /**
   * `run` writes a batch and returns one result per item, in order. A batch that throws is run
   * again item by item, so one bad item fails only its own caller. `onIdle`: the queue emptied.
   */
  constructor(
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly opts: { maxBatch?: number; onIdle?: () => void } = {},
  ) {}

  /** Items waiting for the next batch. */
  get pending(): number {
    return this.queue.length;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.opts.maxBatch ?? 500);
        try {
          const results = await this.run(batch.map((b) => b.item));
          batch.forEach((b, i) => b.resolve(results[i]));
        } catch (e) {
          if (batch.length === 1) batch[0].reject(e);
          else for (const b of batch) await this.run([b.item]).then(([r]) => b.resolve(r), b.reject);
        }
      }
    } finally {
      this.running = false;
      this.opts.onIdle?.();
    }
  }
}
