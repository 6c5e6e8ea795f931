/** How a job's subtasks are grouped into workflows (core/batches.ts). */
import { describe, expect, it } from 'vitest';
import { MAX_BATCH, MAX_BATCHED_OFFER_DEADLINE_SECONDS, batchAt, batchSize } from '../../core/batches.js';

describe('batchSize', () => {
  it('gives a workflow to each subtask of a job with few in flight', () => {
    for (const maxParallel of [1, 2, 4, 7, 15]) expect(batchSize({ maxParallel, offerDeadlineSeconds: 300 })).toBe(1);
  });

  it('batches an eighth of maxParallel, at most MAX_BATCH', () => {
    expect(batchSize({ maxParallel: 16, offerDeadlineSeconds: 300 })).toBe(2);
    expect(batchSize({ maxParallel: 50, offerDeadlineSeconds: 300 })).toBe(6);
    expect(batchSize({ maxParallel: 200, offerDeadlineSeconds: 300 })).toBe(MAX_BATCH);
    expect(batchSize({ maxParallel: 1000, offerDeadlineSeconds: 300 })).toBe(MAX_BATCH);
  });

  it('does not batch subtasks that may look for offers long (their histories would add up)', () => {
    expect(batchSize({ maxParallel: 200, offerDeadlineSeconds: MAX_BATCHED_OFFER_DEADLINE_SECONDS })).toBe(MAX_BATCH);
    expect(batchSize({ maxParallel: 200, offerDeadlineSeconds: MAX_BATCHED_OFFER_DEADLINE_SECONDS + 1 })).toBe(1);
  });
});

describe('batchAt', () => {
  it('covers every subtask once, the last batch shorter', () => {
    const seen: number[] = [];
    for (let first = 0; first < 23; ) {
      const batch = batchAt(first, 10, 23);
      seen.push(...batch);
      first += batch.length;
    }
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(batchAt(20, 10, 23)).toEqual([20, 21, 22]);
    expect(batchAt(23, 10, 23)).toEqual([]);
  });
});
