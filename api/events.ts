/**
 * Wakes event subscribers. Events live in the job_events table (the source of truth, shared by
 * every process); this bus only tells subscribers in this process to look now rather than at
 * their next poll.
 */
import { EventEmitter } from 'node:events';

export class EventBus {
  private emitter = new EventEmitter().setMaxListeners(0);

  notify(jobId: string): void {
    this.emitter.emit(jobId);
  }

  /** Resolves at the next notification for the job, or after `ms`, whichever is first. */
  wait(jobId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off(jobId, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.emitter.once(jobId, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
