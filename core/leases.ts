/**
 * Leases, not promises: an agreement holds a provider's slot only while its reason lasts. These
 * rules decide, from what the database and Temporal say, whether an open agreement has outlived
 * its reason and why. Pure: the sweeper (workers/sweeper.ts) reads the facts and applies the verdicts.
 */

/** Agreement states that hold a provider's slot. */
export const OPEN_AGREEMENT_STATES = ['proposed', 'approved'] as const;
export type OpenAgreementState = (typeof OPEN_AGREEMENT_STATES)[number];

const ENDED_JOB = ['succeeded', 'failed', 'cancelled'];
const ENDED_SUBTASK = ['succeeded', 'failed', 'cancelled'];
const ENDED_ATTEMPT = ['succeeded', 'failed', 'cancelled'];

/**
 * How long a proposal may stay undecided. The workflow gives the provider 10 s to pick the
 * proposal up and 10 s to answer, then records the answer (or its expiry) at once; anything
 * undecided well past that was abandoned.
 */
export const PROPOSAL_DEADLINE_SECONDS = 30;

/** An open agreement with the state of what it serves. */
export interface OpenAgreement {
  id: string;
  jobId: string;
  subtaskIndex: number;
  attempt: number;
  providerId: string;
  /** The workflow its attempt runs in (null: agreements from before batches, the subtask's own). */
  workflowId: string | null;
  state: OpenAgreementState;
  proposedAt: Date;
  jobStatus: string | null;
  subtaskStatus: string | null;
  /** The attempt row an approval started (null: none yet, or a proposal). */
  attemptStatus: string | null;
}

/** Why an open agreement must end now, or null while its reason lasts. */
export function staleReason(a: OpenAgreement, now: Date, deadlineSeconds = PROPOSAL_DEADLINE_SECONDS): string | null {
  if (a.jobStatus === null) return `its job ${a.jobId} does not exist`;
  if (ENDED_JOB.includes(a.jobStatus)) return `its job had ended (${a.jobStatus})`;
  if (a.subtaskStatus !== null && ENDED_SUBTASK.includes(a.subtaskStatus)) return `its subtask ${a.subtaskIndex} had ended (${a.subtaskStatus})`;
  if (a.state === 'approved' && a.attemptStatus !== null && ENDED_ATTEMPT.includes(a.attemptStatus)) return `its attempt ${a.attempt} had ended (${a.attemptStatus})`;
  const age = (now.getTime() - a.proposedAt.getTime()) / 1000;
  if (a.state === 'proposed' && age > deadlineSeconds) return `no decision by its proposal deadline (${deadlineSeconds} s after it was proposed)`;
  return null;
}

/**
 * Temporal's word on the workflow an agreement serves: closed (or unknown to Temporal) means no
 * one will ever end the agreement but the sweeper. A running workflow keeps it.
 */
export function workflowGoneReason(workflowId: string, status: string | null): string | null {
  if (status === null) return `its workflow ${workflowId} is unknown to Temporal`;
  if (status === 'RUNNING') return null;
  return `its workflow ${workflowId} is ${status.toLowerCase().replace(/_/g, ' ')}`;
}

/** The agreement state an ended one moves to: a proposal expires, an approval is terminated. */
export function endedState(state: OpenAgreementState): 'expired' | 'terminated' {
  return state === 'proposed' ? 'expired' : 'terminated';
}

/** Open agreements grouped per provider, for a health report. */
export function loadByProvider(open: Array<Pick<OpenAgreement, 'providerId' | 'jobId'>>): Map<string, { agreements: number; jobs: string[] }> {
  const by = new Map<string, { agreements: number; jobs: string[] }>();
  for (const a of open) {
    const e = by.get(a.providerId) ?? { agreements: 0, jobs: [] };
    e.agreements++;
    if (!e.jobs.includes(a.jobId)) e.jobs.push(a.jobId);
    by.set(a.providerId, e);
  }
  return by;
}

/**
 * What a waiting subtask's note says when every eligible provider is busy: how many, and with
 * which jobs, so a requestor can tell a busy market from a stalled one.
 */
export function busyNote(busy: Array<{ providerId: string; slots: number; jobs: string[]; open?: number }>): string {
  const jobs = [...new Set(busy.flatMap((b) => b.jobs))];
  const who = busy
    .slice(0, 5)
    .map((b) => `${b.providerId} ${b.slots}/${b.slots}${b.open !== undefined && b.open > b.slots ? ` +${b.open - b.slots} waiting` : ''}`)
    .join(', ');
  const withJobs = jobs.length ? ` with job${jobs.length === 1 ? '' : 's'} ${jobs.slice(0, 3).join(', ')}${jobs.length > 3 ? ` and ${jobs.length - 3} more` : ''}` : '';
  return `waiting for a free slot: ${busy.length} provider${busy.length === 1 ? '' : 's'} busy${withJobs} (${who}${busy.length > 5 ? ', …' : ''})`;
}
