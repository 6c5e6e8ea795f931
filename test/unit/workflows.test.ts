/**
 * The workflows' own logic (bounded children, attempts moving between providers, fail-fast)
 * with in-memory fakes for the activities, on the real Temporal dev server.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureTemporalCli } from '../../infra/temporalServer.js';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { CompareActivities } from '../../activities/compare.js';
import type { MarketActivities } from '../../activities/market.js';
import type { PaymentActivities } from '../../activities/payments.js';
import { cancelSignal } from '../../workflows/definitions.js';
import type { RequestorActivities } from '../../activities/requestor.js';
import type { RunRequest, RunResult } from '../../activities/types.js';
import { suffix, workflowBundle } from '../support/harness.js';
import { installTemporalRuntime } from '../../workers/temporalRuntime.js';

/** Histories recorded from earlier versions: today's code must replay them (RECORD_HISTORIES=name adds one). */
const fixtures = path.resolve('test/fixtures/histories');

interface Fake {
  running: number;
  maxRunning: number;
  attempts: Array<{ index: number; attempt: number; provider: string }>;
  ended: Array<{ status: string; error?: string }>;
  outcome: (req: RunRequest, provider: string) => Promise<RunResult>;
  /** What each subtask was accepted with, by index. */
  accepted?: Array<{ index: number; accepted: number[]; rejected: number[] }>;
  notes?: string[];
  /** Payment calls, in order. */
  payments?: string[];
  /** Where answers were recorded, in order: `decideAgreement`, or `finishAttempt` with the run. */
  answersRecorded?: string[];
  /** Lone results accepted by finishAttempt with their run (no acceptResult of their own). */
  acceptedWithRun?: number;
  /** The job's first and last run (continue-as-new starts a new one). */
  runs?: { workflowId: string; firstRunId: string; latestRunId: string };
}

/** The plan the fake prepareJob returns: one provider per copy, no verification, unpaid, unless a test says otherwise. */
type Plan = Partial<Awaited<ReturnType<RequestorActivities['prepareJob']>>>;

const ok = (out: string): RunResult => ({ status: 'succeeded', exitCode: 0, stdoutTail: out, stderrTail: '', stdoutRef: `ref-${out}`, outputs: [], cpuSeconds: 0, wallSeconds: 0 });

function fakeRequestor(fake: Fake, providers: string[], subtaskCount: number, maxParallel: number, plan: Plan = {}): Record<string, (...args: any[]) => Promise<unknown>> {
  // Like the market, a provider gets at most one copy of a subtask.
  const given = new Map<number, string[]>();
  const activities: Partial<RequestorActivities & MarketActivities & CompareActivities & PaymentActivities> = {
    prepareJob: async () => ({ subtaskCount, maxParallel, maxAttempts: 2, heartbeatTimeoutSeconds: 5, timeoutSeconds: 30, offerDeadlineSeconds: 30, redundancy: 1, maxExtraRuns: 0, adaptive: null, ...plan }),
    loadSubtask: async ({ jobId, index }) => ({ jobId, index, image: 'x', command: ['x'], inputs: [], cpus: 1, memoryBytes: 1, timeoutSeconds: 30 }),
    loadSubtasks: async ({ jobId, indexes }) => indexes.map((index) => ({ jobId, index, image: 'x', command: ['x'], inputs: [], cpus: 1, memoryBytes: 1, timeoutSeconds: 30 })),
    loadCropCheck: async ({ jobId, index, crops }) => ({ jobId, index, image: 'x', command: ['crop', crops], inputs: [], cpus: 1, memoryBytes: 1, timeoutSeconds: 30 }),
    proposeAgreement: async ({ index, attempt, exclude, avoid = [] }) => {
      const used = given.get(index) ?? [];
      const provider = providers.find((p) => !exclude.includes(p) && !avoid.includes(p) && !used.includes(p)) ?? providers.find((p) => !exclude.includes(p)) ?? providers[0];
      given.set(index, [...used, provider]);
      fake.attempts.push({ index, attempt, provider });
      const agreementId = `${index}.${attempt}.${provider}`;
      return {
        kind: 'proposed',
        agreementId,
        providerId: provider,
        taskQueue: `q-${provider}`,
        proposal: { agreementId, requestorId: 'r', jobId: 'j', subtaskIndex: index, image: 'x', pricing: { start: 0, cpuSecond: 0, envSecond: 0 }, maxDurationSeconds: 30 },
        track: { accepted: 0, reputation: 0.5 },
      };
    },
    // A run that brought no answer stands for one the provider gave the market itself (the API): approved.
    decideAgreement: async ({ decision }) => {
      fake.answersRecorded?.push(`decideAgreement ${decision.decision}`);
      return decision.decision === 'reject' ? { approved: false, reason: decision.reason } : { approved: true, reason: 'approved' };
    },
    // The same rule for the answer recorded with the run (SETTLE_WITH_RESULT).
    finishAttempt: async ({ index, attempt, result, answer, acceptAlone }) => {
      if (answer) fake.answersRecorded?.push(`finishAttempt ${answer.decision.decision}`);
      if (answer?.decision.decision === 'reject') return { refused: null, declined: answer.decision.reason };
      // A lone result that decides alone is accepted with the run (ACCEPT_WITH_RESULT), as acceptResult would.
      if (acceptAlone && result.status === 'succeeded') {
        fake.accepted?.push({ index, accepted: [attempt], rejected: [] });
        fake.acceptedWithRun = (fake.acceptedWithRun ?? 0) + 1;
        return { refused: null, accepted: { costWei: plan.budgetWei ? '10' : '0' } };
      }
      return { refused: null };
    },
    noteVerification: async ({ reason }) => void fake.notes?.push(reason),
    endSubtask: async () => undefined,
    acceptResult: async ({ index, accepted, rejected }) => {
      fake.accepted?.push({ index, accepted, rejected });
      return { costWei: plan.budgetWei ? '10' : '0' };
    },
    // A crop check's crops disagree with the lone result (so full copies decide).
    imageSize: async () => ({ width: 64, height: 48 }),
    compareCrops: async ({ against }) => ({ against, same: false, detail: 'crops differ (fake)' }),
    compareResults: async ({ against }) => ({ against, same: false, detail: 'different (fake)' }),
    setResultKey: async () => undefined,
    lockBudget: async () => (fake.payments?.push('lock'), { allocationId: 'a', lockedWei: plan.budgetWei ?? '0' }),
    settlePayments: async () => (fake.payments?.push('settle'), { paid: 0, paidWei: '0', transactions: 0, overBudget: 0 }),
    closeAllocation: async () => (fake.payments?.push('close'), { returnedWei: '0' }),
    abandonLock: async () => ({ returnedWei: '0' }),
    mergeJob: async () => ({ value: 'merged', ref: null }),
    finishJob: async ({ status, error }) => {
      fake.ended.push({ status, error });
    },
  };
  return activities as Record<string, (...args: any[]) => Promise<unknown>>;
}

const newFake = (outcome: Fake['outcome']): Fake => ({ running: 0, maxRunning: 0, attempts: [], ended: [], outcome, accepted: [], notes: [], payments: [] });

// Each scenario has its own task queues, providers and fake: they run side by side.
describe.concurrent('jobWorkflow and subtaskWorkflow with fake activities', () => {
  let connection: NativeConnection;
  let clientConnection: Connection;
  let client: Client;
  beforeAll(async () => {
    // The SDK's lines through the project's logger, at warn: the workers' start and stop are noise here.
    installTemporalRuntime();
    connection = await NativeConnection.connect({ address: inject('temporalAddress') });
    clientConnection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection: clientConnection });
  });
  afterAll(async () => {
    await clientConnection?.close();
    await connection?.close();
  });

  /**
   * Runs a job on fake activities. `record` names the scenario whose histories (the job's and
   * subtask 0's) RECORD_HISTORIES=1 saves as fixtures, once: a fixture is from the version that
   * recorded it, and today's code must replay it.
   */
  async function runJob(fake: Fake, subtaskCount: number, maxParallel: number, opts: { plan?: Plan; providers?: number; record?: string; during?: (h: WorkflowHandle) => Promise<void> } = {}) {
    const id = suffix();
    const providers = Array.from({ length: opts.providers ?? 2 }, (_, i) => `p${i + 1}-${id}`);
    const taskQueue = `wf-test-${id}`;
    const workers = [
      await Worker.create({ connection, taskQueue, workflowBundle: await workflowBundle(), activities: fakeRequestor(fake, providers, subtaskCount, maxParallel, opts.plan) }),
      ...providers.map((p) =>
        Worker.create({
          connection,
          taskQueue: `q-${p}`,
          activities: {
            reviewProposal: async () => ({ decision: 'accept' }),
            runSubtask: async (req: RunRequest) => {
              fake.running++;
              fake.maxRunning = Math.max(fake.maxRunning, fake.running);
              try {
                return await fake.outcome(req, p);
              } finally {
                fake.running--;
              }
            },
          },
        }),
      ),
    ];
    const all = await Promise.all(workers);
    const handle = await client.workflow.start('jobWorkflow', { taskQueue, workflowId: `job-${id}`, args: [{ jobId: `job-${id}` }] });
    const result = handle.result();
    await Promise.all([...all.map((w) => w.runUntil(result)), opts.during?.(handle)]);
    if (process.env.RECORD_HISTORIES && opts.record) {
      // The CLI writes the standard JSON history format, which the SDK's replayer reads.
      const cli = await ensureTemporalCli();
      await fs.mkdir(fixtures, { recursive: true });
      // A job that ran its subtasks in batches has no subtask-0 workflow, but a batch from 0.
      const batched = opts.record.startsWith('batch');
      for (const [workflowId, name] of [
        [handle.workflowId, 'job'],
        batched ? [`${handle.workflowId}/subtasks-0-1`, 'subtasks-0-1'] : [`${handle.workflowId}/subtask-0`, 'subtask-0'],
      ]) {
        // RECORD_HISTORIES=1 names fixtures by scenario; any other value is a prefix (a version's label).
        const label = process.env.RECORD_HISTORIES === '1' ? opts.record : `${process.env.RECORD_HISTORIES}-${opts.record}`;
        const file = path.join(fixtures, `${label}.${name}.json`);
        if (await fs.stat(file).then(() => true, () => false)) continue;
        const args = ['workflow', 'show', '--address', inject('temporalAddress'), '--workflow-id', workflowId, '--output', 'json'];
        const { stdout } = await promisify(execFile)(cli, args, { maxBuffer: 64 * 1024 * 1024 });
        await fs.writeFile(file, stdout);
      }
    }
    fake.runs = { workflowId: handle.workflowId, firstRunId: handle.firstExecutionRunId, latestRunId: (await client.workflow.getHandle(handle.workflowId).describe()).runId };
    return result;
  }

  it('keeps no more children in flight than maxParallel and merges at the end', async () => {
    const fake: Fake = { running: 0, maxRunning: 0, attempts: [], ended: [], outcome: async (req) => (await new Promise((r) => setTimeout(r, 150)), ok(String(req.index))) };
    const outcome = await runJob(fake, 7, 2);
    expect(outcome).toMatchObject({ status: 'succeeded', value: 'merged' });
    expect(fake.maxRunning).toBe(2);
    expect(fake.attempts).toHaveLength(7);
    expect(fake.ended).toEqual([{ status: 'succeeded', error: undefined }]);
  });

  it('continues as new when the history grows long, running every subtask once', async () => {
    const fake: Fake = { running: 0, maxRunning: 0, attempts: [], ended: [], outcome: async (req) => ok(String(req.index)) };
    // The tests' server suggests continue-as-new after this many events (its setup); a subtask
    // adds at least three to the job's history (child initiated, started, completed), however
    // its workflow tasks are batched, so half as many subtasks is well past it.
    const subtasks = Math.ceil(inject('historySuggestContinueAsNew') / 2);
    const outcome = await runJob(fake, subtasks, 10);
    expect(outcome).toMatchObject({ status: 'succeeded', value: 'merged' });
    expect(fake.runs?.latestRunId).not.toBe(fake.runs?.firstRunId);
    expect(fake.attempts.map((a) => a.index).sort((a, b) => a - b)).toEqual(Array.from({ length: subtasks }, (_, i) => i));
    expect(fake.ended).toHaveLength(1);
  });

  it('moves a failed attempt to the other provider', async () => {
    const fake: Fake = {
      running: 0,
      maxRunning: 0,
      attempts: [],
      ended: [],
      outcome: async (_req, provider) => (provider.startsWith('p1') ? { ...ok(''), status: 'failed', exitCode: 1, reason: 'exited with code 1' } : ok('fine')),
    };
    const outcome = await runJob(fake, 1, 1, { record: 'moves-failed-attempt' });
    expect(outcome.status).toBe('succeeded');
    expect(fake.attempts.map((a) => [a.attempt, a.provider.slice(0, 2)])).toEqual([
      [1, 'p1'],
      [2, 'p2'],
    ]);
  });

  it('passes over a provider that declines the proposal its run carries, at no attempt’s cost', async () => {
    // Whether each run carried its proposal (the provider answers it as the run arrives).
    const carried: boolean[] = [];
    const fake = newFake(async (req, provider) => {
      carried.push(req.proposal?.agreementId === req.agreementId);
      if (provider.startsWith('p1')) throw ApplicationFailure.create({ type: 'ProposalDeclined', message: 'declined: busy', nonRetryable: true, details: [{ answer: { decision: 'reject', reason: 'busy' } }] });
      return ok('fine');
    });
    fake.answersRecorded = [];
    const outcome = await runJob(fake, 1, 1, { record: 'declined-at-run' });
    expect(outcome.status).toBe('succeeded');
    // Both proposals were for attempt 1: a declined proposal is not a failed attempt.
    expect(fake.attempts.map((a) => [a.attempt, a.provider.slice(0, 2)])).toEqual([
      [1, 'p1'],
      [1, 'p2'],
    ]);
    expect(fake.accepted).toEqual([{ index: 0, accepted: [1], rejected: [] }]);
    expect(carried).toEqual([true, true]);
    // Each answer was recorded with its run, in the same local activity (no decideAgreement of its own).
    expect(fake.answersRecorded).toEqual(['finishAttempt reject', 'finishAttempt expired']);
    // Its lone result was accepted in the same step (redundancy 1: it decides alone).
    expect(fake.acceptedWithRun).toBe(1);
  });

  it('fails the job with the subtask’s reason once its attempts are spent, cancelling the rest', async () => {
    const fake: Fake = {
      running: 0,
      maxRunning: 0,
      attempts: [],
      ended: [],
      outcome: async (req) => {
        if (req.index === 0) return { ...ok(''), status: 'failed', exitCode: 2, reason: 'exited with code 2: bad frame' };
        await new Promise((r) => setTimeout(r, 400));
        return ok('x');
      },
    };
    // The workflow fails too, so Temporal shows the job as failed; the outcome rides in the details.
    const e = await runJob(fake, 4, 4).catch((x) => x);
    expect(e).toBeInstanceOf(WorkflowFailedError);
    expect(e.cause).toMatchObject({ type: 'JobFailed', message: 'subtask 0 failed after 2 attempts: exited with code 2: bad frame' });
    expect(e.cause.details[0]).toMatchObject({ status: 'failed', error: 'subtask 0 failed after 2 attempts: exited with code 2: bad frame' });
    expect(fake.ended).toEqual([{ status: 'failed', error: 'subtask 0 failed after 2 attempts: exited with code 2: bad frame' }]);
  });

  it('redundancy 2: two copies disagree, a tie-breaker on a third provider decides', async () => {
    const fake = newFake(async (_req, provider) => ok(provider.startsWith('p1') ? 'a' : 'b'));
    const outcome = await runJob(fake, 1, 1, { providers: 3, plan: { redundancy: 2, maxExtraRuns: 1 }, record: 'redundancy-tie-breaker' });
    expect(outcome.status).toBe('succeeded');
    expect(fake.attempts.map((a) => a.provider.slice(0, 2)).sort()).toEqual(['p1', 'p2', 'p3']);
    // Copies are placed at once, so which attempt p1 got varies: check by provider.
    const by = (attempts: number[]) => attempts.map((n) => fake.attempts.find((a) => a.attempt === n)!.provider.slice(0, 2)).sort();
    expect(fake.accepted).toHaveLength(1);
    expect(by(fake.accepted![0].accepted)).toEqual(['p2', 'p3']);
    expect(by(fake.accepted![0].rejected)).toEqual(['p1']);
  });

  it('a crop check that doubts a lone result calls full copies, and the majority decides', async () => {
    // p1 renders the lone result and p3 the full copy, both "a"; p2 renders the crops.
    const fake = newFake(async (req, provider) => ok(req.command[0] === 'crop' ? 'crops' : provider.startsWith('p2') ? 'b' : 'a'));
    const outcome = await runJob(fake, 1, 1, { providers: 3, plan: { redundancy: 1, cropCheck: { crops: 2, size: 0.25, rate: 1 } }, record: 'crop-doubt' });
    expect(outcome.status).toBe('succeeded');
    expect(fake.notes?.some((n) => n.includes('crop check (draw < 1)'))).toBe(true);
    // The doubting check (attempt 2) was wrong: the full copy agreed with the lone result.
    expect(fake.accepted).toEqual([{ index: 0, accepted: [1, 3], rejected: [2] }]);
  });

  it('adaptive verification lets a trusted provider work alone and says why', async () => {
    const fake = newFake(async () => ok('a'));
    const adaptive = { trustAfter: 0, minReputation: 0, soloRate: 1, spotCheckRate: 0 };
    const outcome = await runJob(fake, 2, 2, { plan: { redundancy: 2, adaptive }, record: 'adaptive-solo' });
    expect(outcome.status).toBe('succeeded');
    expect(fake.attempts).toHaveLength(2);
    expect(fake.notes?.filter((n) => n.includes('trusted, alone'))).toHaveLength(2);
  });

  it('a paid job locks its budget, pays accepted results and closes the allocation', async () => {
    const fake = newFake(async (req) => ok(String(req.index)));
    const outcome = await runJob(fake, 3, 2, { plan: { budgetWei: '1000000' }, record: 'paid' });
    expect(outcome.status).toBe('succeeded');
    expect(fake.payments?.[0]).toBe('lock');
    expect(fake.payments?.slice(-2)).toEqual(['settle', 'close']);
  });

  it('a cancelled job stops its subtasks and ends cancelled', async () => {
    const fake = newFake(async () => (await new Promise((r) => setTimeout(r, 1500)), ok('late')));
    const outcome = await runJob(fake, 2, 2, {
      record: 'cancelled',
      during: async (h) => {
        await new Promise((r) => setTimeout(r, 500));
        await h.signal(cancelSignal, 'changed my mind');
      },
    });
    expect(outcome).toMatchObject({ status: 'cancelled', error: 'changed my mind' });
    expect(fake.ended).toEqual([{ status: 'cancelled', error: 'changed my mind' }]);
  });

  it('runs subtasks two to a workflow at maxParallel 16, each with its own attempts and verdict', async () => {
    const fake = newFake(async (req, provider) => (req.index === 3 && provider.startsWith('p1') ? { ...ok(''), status: 'failed', exitCode: 1, reason: 'exited with code 1' } : ok(String(req.index))));
    const outcome = await runJob(fake, 7, 16, { record: 'batches' });
    expect(outcome).toMatchObject({ status: 'succeeded', value: 'merged' });
    // Every subtask once, subtask 3 twice: its first provider failed it, the other took it.
    expect(fake.attempts.map((a) => a.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 3, 4, 5, 6]);
    expect(fake.attempts.filter((a) => a.index === 3).map((a) => a.provider.slice(0, 2))).toEqual(['p1', 'p2']);
    expect(fake.accepted?.map((a) => a.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // The subtasks ran in batches of two, not in a workflow each; the last, alone, in its own.
    const jobId = fake.runs!.workflowId;
    for (const [first, last] of [[0, 1], [2, 3], [4, 5]]) {
      const d = await client.workflow.getHandle(`${jobId}/subtasks-${first}-${last}`).describe();
      expect(d.type).toBe('subtaskBatchWorkflow');
      expect(d.status.name).toBe('COMPLETED');
    }
    await expect(client.workflow.getHandle(`${jobId}/subtask-0`).describe()).rejects.toThrow(/not found/i);
    expect((await client.workflow.getHandle(`${jobId}/subtask-6`).describe()).type).toBe('subtaskWorkflow');
  });

  it('a subtask that fails in a batch stops the others and fails the job with its reason', async () => {
    const fake = newFake(async (req) => {
      if (req.index === 0) return { ...ok(''), status: 'failed', exitCode: 2, reason: 'exited with code 2: bad frame' };
      await new Promise((r) => setTimeout(r, 1500));
      return ok('x');
    });
    const e = await runJob(fake, 4, 16, { record: 'batch-failed' }).catch((x) => x);
    expect(e).toBeInstanceOf(WorkflowFailedError);
    expect(e.cause).toMatchObject({ type: 'JobFailed', message: 'subtask 0 failed after 2 attempts: exited with code 2: bad frame' });
    expect(fake.ended).toEqual([{ status: 'failed', error: 'subtask 0 failed after 2 attempts: exited with code 2: bad frame' }]);
    // Subtask 1, beside it in its batch, was stopped, not accepted.
    expect(fake.accepted?.map((a) => a.index)).not.toContain(1);
  });

  it('a cancelled job stops the subtasks of its batches and ends cancelled', async () => {
    const fake = newFake(async () => (await new Promise((r) => setTimeout(r, 1500)), ok('late')));
    const outcome = await runJob(fake, 4, 16, {
      record: 'batch-cancelled',
      during: async (h) => {
        await new Promise((r) => setTimeout(r, 500));
        await h.signal(cancelSignal, 'changed my mind');
      },
    });
    expect(outcome).toMatchObject({ status: 'cancelled', error: 'changed my mind' });
    expect(fake.ended).toEqual([{ status: 'cancelled', error: 'changed my mind' }]);
    expect(fake.accepted).toEqual([]);
  });

  it('replays the recorded histories of earlier versions without non-determinism', async () => {
    const files = (await fs.readdir(fixtures)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    // One replay worker for every history (a worker each cost about 150 ms).
    const histories = await Promise.all(files.map(async (f) => ({ workflowId: `replay-${f}`, history: JSON.parse(await fs.readFile(path.join(fixtures, f), 'utf8')) })));
    const failed: string[] = [];
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      replayed++;
      if (r.error) failed.push(`${r.workflowId}: ${r.error.message}`);
    }
    expect(failed).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
