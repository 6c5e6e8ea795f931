/**
 * The agreements a provider approved and has not finished: a run needs one, and they count
 * against its policy's concurrency limit. Kept in memory (after a restart nothing is approved).
 *
 * They are leases, not promises: at each check-in the market says which of this provider's
 * agreements are still open, and any other is dropped (a running container under it is
 * killed), so a requestor whose job ended never holds the provider's slots. An approval that no
 * run ever came for lapses on its own, for when the market cannot be reached.
 */

/** How long an approval waits for its run before it lapses (the market's word usually comes first). */
export const UNUSED_APPROVAL_MS = 5 * 60_000;

interface Entry {
  approvedAt: number;
  /** Set while a container runs under it: aborting kills the container. */
  run?: AbortController;
}

export class ProviderAgreements {
  private readonly entries = new Map<string, Entry>();
  /** Agreements whose container holds a slot now, and those waiting for one, first come first served. */
  private readonly running = new Set<string>();
  private readonly waiting: Array<{ id: string; go: () => void }> = [];

  /** `slots`: containers at once; agreements beyond them wait their turn (core/market.ts QUEUED_PER_SLOT). */
  constructor(
    private readonly unusedMs = UNUSED_APPROVAL_MS,
    private readonly slots = Infinity,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  approve(id: string, now = Date.now()): void {
    if (!this.entries.has(id)) this.entries.set(id, { approvedAt: now });
  }

  /** A run starts under an approved agreement; the signal aborts when the agreement is dropped. */
  start(id: string): AbortSignal {
    const e = this.entries.get(id);
    if (!e) throw new Error(`no approved agreement ${id}`);
    e.run ??= new AbortController();
    return e.run.signal;
  }

  /** Containers running now (each holds a slot). */
  get runs(): number {
    return this.running.size;
  }

  /** Agreements waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Waits until a run under `id` may use a slot: at once while fewer than `slots` run, else
   * when one finishes (in the order they asked). Rejects with the signal's reason if it aborts
   * first (the work was cancelled, the agreement dropped, or the wait given up).
   */
  async turn(id: string, signal: AbortSignal): Promise<void> {
    if (this.running.has(id)) return;
    signal.throwIfAborted();
    if (this.running.size < this.slots) {
      this.running.add(id);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        id,
        go: () => {
          signal.removeEventListener('abort', onAbort);
          this.running.add(id);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** The container under `id` has stopped: its slot goes to the next waiting run (the lease stays until finish). */
  release(id: string): void {
    if (this.running.delete(id)) this.wakeNext();
  }

  finish(id: string): void {
    this.entries.delete(id);
    this.release(id);
  }

  private wakeNext(): void {
    while (this.running.size < this.slots && this.waiting.length) this.waiting.shift()!.go();
  }

  /**
   * Keeps only the agreements the market still holds open, as of a check-in sent at `askedAt`
   * (an approval given after that may be missing from the answer, and is kept). Returns what
   * was dropped, and kills what ran under it.
   */
  retain(open: ReadonlySet<string>, askedAt: number): string[] {
    const dropped: string[] = [];
    for (const [id, e] of this.entries) {
      if (open.has(id) || e.approvedAt >= askedAt) continue;
      e.run?.abort(new Error(`agreement ${id} was ended by the market`));
      this.entries.delete(id);
      dropped.push(id);
    }
    return dropped;
  }

  /** Approvals that no run came for within the lease: dropped. Running ones are kept. */
  lapse(now = Date.now()): string[] {
    const dropped: string[] = [];
    for (const [id, e] of this.entries) {
      if (e.run || now - e.approvedAt < this.unusedMs) continue;
      this.entries.delete(id);
      dropped.push(id);
    }
    return dropped;
  }
}
