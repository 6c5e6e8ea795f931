import { describe, expect, it } from 'vitest';
import { withRecordedEnds } from '../../core/progress.js';

describe("a job's progress as the API tells it", () => {
  it("moves a running batch's finished subtasks from running to their ends", () => {
    // Two batches of 10 in flight: the query counts all 20 running; the database recorded 9 accepted and 1 failed.
    const p = { status: 'running', total: 200, started: 20, running: 20, succeeded: 0, failed: 0, note: null };
    expect(withRecordedEnds(p, { succeeded: 9, failed: 1 })).toEqual({ ...p, running: 10, succeeded: 9, failed: 1 });
  });

  it('keeps the counts of whichever side was read later, and never counts below zero running', () => {
    const p = { running: 3, succeeded: 50, failed: 2 };
    // The database was read before the workflow: its counts are behind.
    expect(withRecordedEnds(p, { succeeded: 48, failed: 2 })).toEqual(p);
    // The batches ended and the workflow has not heard yet of one more than it counts running.
    expect(withRecordedEnds(p, { succeeded: 54, failed: 2 })).toEqual({ running: 0, succeeded: 54, failed: 2 });
  });
});
