/** Leases: when an open agreement has outlived its reason, and the provider's own book of approvals. */
import { describe, expect, it } from 'vitest';
import { busyNote, loadByProvider, staleReason, workflowGoneReason, type OpenAgreement } from '../../core/leases.js';
import { ProviderAgreements } from '../../adapters/providerAgreements.js';

const now = new Date('2026-11-26T12:00:00Z');
const base: OpenAgreement = {
  id: 'job-1.0.1.1',
  jobId: 'job-1',
  subtaskIndex: 0,
  attempt: 1,
  providerId: 'p1',
  workflowId: null,
  state: 'approved',
  proposedAt: new Date(now.getTime() - 5_000),
  jobStatus: 'running',
  subtaskStatus: 'running',
  attemptStatus: 'running',
};

describe('staleReason', () => {
  it('keeps an agreement whose job, subtask and attempt still run', () => {
    expect(staleReason(base, now)).toBeNull();
    expect(staleReason({ ...base, state: 'proposed', attemptStatus: null, subtaskStatus: 'waiting' }, now)).toBeNull();
  });
  it('ends one whose job ended, whatever its subtask says', () => {
    expect(staleReason({ ...base, jobStatus: 'failed' }, now)).toBe('its job had ended (failed)');
    expect(staleReason({ ...base, state: 'proposed', jobStatus: 'cancelled' }, now)).toBe('its job had ended (cancelled)');
    expect(staleReason({ ...base, jobStatus: null }, now)).toBe('its job job-1 does not exist');
  });
  it('ends one whose subtask ended (a copy stopped once the majority agreed)', () => {
    expect(staleReason({ ...base, subtaskStatus: 'succeeded' }, now)).toBe('its subtask 0 had ended (succeeded)');
    expect(staleReason({ ...base, subtaskStatus: 'cancelled' }, now)).toBe('its subtask 0 had ended (cancelled)');
  });
  it('ends an approval whose attempt ended, but not a proposal (it has no attempt yet)', () => {
    expect(staleReason({ ...base, attemptStatus: 'failed' }, now)).toBe('its attempt 1 had ended (failed)');
    expect(staleReason({ ...base, state: 'proposed', attemptStatus: 'failed', proposedAt: now }, now)).toBeNull();
  });
  it('ends a proposal left undecided past its deadline, never an approval for its age', () => {
    const old = new Date(now.getTime() - 31_000);
    expect(staleReason({ ...base, state: 'proposed', proposedAt: old }, now)).toBe('no decision by its proposal deadline (30 s after it was proposed)');
    expect(staleReason({ ...base, state: 'proposed', proposedAt: new Date(now.getTime() - 29_000) }, now)).toBeNull();
    expect(staleReason({ ...base, proposedAt: new Date(now.getTime() - 3_600_000) }, now)).toBeNull();
  });
});

describe('workflowGoneReason', () => {
  it('keeps agreements of running workflows and ends those of closed or unknown ones', () => {
    expect(workflowGoneReason('j/subtask-0', 'RUNNING')).toBeNull();
    expect(workflowGoneReason('j/subtask-0', 'TERMINATED')).toBe('its workflow j/subtask-0 is terminated');
    expect(workflowGoneReason('j/subtask-0', 'TIMED_OUT')).toBe('its workflow j/subtask-0 is timed out');
    expect(workflowGoneReason('j/subtask-0', null)).toBe('its workflow j/subtask-0 is unknown to Temporal');
  });
});

describe('busyNote and loadByProvider', () => {
  it('says how many providers are busy and with which jobs', () => {
    expect(busyNote([{ providerId: 'local-1', slots: 1, jobs: ['job-a'] }, { providerId: 'local-2', slots: 2, jobs: ['job-a', 'job-b'] }])).toBe(
      'waiting for a free slot: 2 providers busy with jobs job-a, job-b (local-1 1/1, local-2 2/2)',
    );
    expect(busyNote([{ providerId: 'p', slots: 1, jobs: [] }])).toBe('waiting for a free slot: 1 provider busy (p 1/1)');
    // Runs waiting behind the busy slots are counted too.
    expect(busyNote([{ providerId: 'p', slots: 1, jobs: ['j'], open: 2 }])).toBe('waiting for a free slot: 1 provider busy with job j (p 1/1 +1 waiting)');
  });
  it('counts open agreements and their jobs per provider', () => {
    const by = loadByProvider([
      { providerId: 'p1', jobId: 'a' },
      { providerId: 'p1', jobId: 'a' },
      { providerId: 'p2', jobId: 'b' },
    ]);
    expect(by.get('p1')).toEqual({ agreements: 2, jobs: ['a'] });
    expect(by.get('p2')).toEqual({ agreements: 1, jobs: ['b'] });
  });
});

describe('ProviderAgreements (a provider’s approvals are leases)', () => {
  it('drops approvals the market no longer holds open, and kills what runs under them', () => {
    const book = new ProviderAgreements();
    book.approve('a', 1000);
    book.approve('b', 1000);
    book.approve('c', 1000);
    const running = book.start('b');
    expect(book.size).toBe(3);
    expect(book.retain(new Set(['a']), 2000).sort()).toEqual(['b', 'c']);
    expect(running.aborted).toBe(true);
    expect(book.ids()).toEqual(['a']);
  });
  it('keeps an approval given after the check-in was sent (the answer may predate it)', () => {
    const book = new ProviderAgreements();
    book.approve('late', 5000);
    expect(book.retain(new Set(), 4000)).toEqual([]);
    expect(book.has('late')).toBe(true);
  });
  it('lets an unused approval lapse, never a running one', () => {
    const book = new ProviderAgreements(60_000);
    book.approve('idle', 0);
    book.approve('busy', 0);
    book.start('busy');
    expect(book.lapse(30_000)).toEqual([]);
    expect(book.lapse(61_000)).toEqual(['idle']);
    expect(book.ids()).toEqual(['busy']);
    book.finish('busy');
    expect(book.size).toBe(0);
  });
  it('runs at most `slots` containers; the next waits its turn and starts when one finishes', async () => {
    const book = new ProviderAgreements(60_000, 1);
    for (const id of ['a', 'b', 'c']) book.approve(id, 0);
    const never = new AbortController().signal;
    await book.turn('a', never);
    const order: string[] = [];
    const b = book.turn('b', never).then(() => order.push('b'));
    const cancelled = new AbortController();
    const c = book.turn('c', cancelled.signal).then(
      () => order.push('c'),
      (e: Error) => order.push(`c: ${e.message}`),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    expect(book.queued).toBe(2);
    cancelled.abort(new Error('given up'));
    await c;
    expect(order).toEqual(['c: given up']);
    // A stopped container frees its slot before its lease ends (its outputs are still uploading).
    book.release('a');
    await b;
    expect(order).toEqual(['c: given up', 'b']);
    expect(book.queued).toBe(0);
    expect(book.has('a')).toBe(true);
    book.finish('a');
    expect(book.has('a')).toBe(false);
  });
});
