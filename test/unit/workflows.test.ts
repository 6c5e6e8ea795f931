/**
 * The workflows' own logic (bounded children, attempts moving between providers, fail-fast)
 * with in-memory fakes for the activities, on the real Temporal dev server.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureTemporalCli } from '../../infra/temporalServer.js';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { MarketActivities } from '../../activities/market.js';
import type { RequestorActivities } from '../../activities/requestor.js';
import type { RunRequest, RunResult } from '../../activities/types.js';
import { suffix, workflowBundle } from '../support/harness.js';

/** Histories recorded from earlier versions: today's code must replay them (RECORD_HISTORIES=name adds one). */
const fixtures = path.resolve('test/fixtures/histories');

interface Fake {
  running: number;
  maxRunning: number;
  attempts: Array<{ index: number; attempt: number; provider: string }>;
  ended: Array<{ status: string; error?: string }>;
  outcome: (req: RunRequest, provider: string) => Promise<RunResult>;
}

const ok = (out: string): RunResult => ({ status: 'succeeded', exitCode: 0, stdoutTail: out, stderrTail: '', stdoutRef: `ref-${out}`, outputs: [], cpuSeconds: 0, wallSeconds: 0 });

function fakeRequestor(fake: Fake, providers: string[], subtaskCount: number, maxParallel: number): Partial<RequestorActivities & MarketActivities> {
  return {
    prepareJob: async () => ({ subtaskCount, maxParallel, maxAttempts: 2, heartbeatTimeoutSeconds: 5, timeoutSeconds: 30, offerDeadlineSeconds: 30, redundancy: 1, maxExtraRuns: 0, adaptive: null }),
    loadSubtask: async ({ jobId, index }) => ({ jobId, index, image: 'x', command: ['x'], inputs: [], cpus: 1, memoryBytes: 1, timeoutSeconds: 30 }),
    proposeAgreement: async ({ index, attempt, exclude, avoid = [] }) => {
      const provider = providers.find((p) => !exclude.includes(p) && !avoid.includes(p)) ?? providers[0];
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
    decideAgreement: async () => ({ approved: true, reason: 'approved' }),
    finishAttempt: async () => ({ refused: null }),
    endSubtask: async () => undefined,
    acceptResult: async () => ({ costWei: '0' }),
    mergeJob: async () => ({ value: 'merged', ref: null }),
    finishJob: async ({ status, error }) => {
      fake.ended.push({ status, error });
    },
  };
}

describe('jobWorkflow and subtaskWorkflow with fake activities', () => {
  let connection: NativeConnection;
  let clientConnection: Connection;
  let client: Client;
  beforeAll(async () => {
    connection = await NativeConnection.connect({ address: inject('temporalAddress') });
    clientConnection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection: clientConnection });
  });
  afterAll(async () => {
    await clientConnection?.close();
    await connection?.close();
  });

  let lastRun = { firstRunId: '', latestRunId: '' };

  async function runJob(fake: Fake, subtaskCount: number, maxParallel: number) {
    const id = suffix();
    const providers = [`p1-${id}`, `p2-${id}`];
    const taskQueue = `wf-test-${id}`;
    const workers = [
      await Worker.create({ connection, taskQueue, workflowBundle: await workflowBundle(), activities: fakeRequestor(fake, providers, subtaskCount, maxParallel) }),
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
    await Promise.all(all.map((w) => w.runUntil(result)));
    if (process.env.RECORD_HISTORIES) {
      // The CLI writes the standard JSON history format, which the SDK's replayer reads.
      const cli = await ensureTemporalCli();
      await fs.mkdir(fixtures, { recursive: true });
      for (const [workflowId, name] of [
        [handle.workflowId, 'job'],
        [`${handle.workflowId}/subtask-0`, 'subtask-0'],
      ]) {
        const args = ['workflow', 'show', '--address', inject('temporalAddress'), '--workflow-id', workflowId, '--output', 'json'];
        const { stdout } = await promisify(execFile)(cli, args, { maxBuffer: 64 * 1024 * 1024 });
        await fs.writeFile(path.join(fixtures, `${process.env.RECORD_HISTORIES}.${name}.json`), stdout);
      }
    }
    lastRun = { firstRunId: handle.firstExecutionRunId, latestRunId: (await client.workflow.getHandle(handle.workflowId).describe()).runId };
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
    // The tests' server suggests continue-as-new after HISTORY_SUGGEST_CONTINUE_AS_NEW events (globalSetup).
    const outcome = await runJob(fake, 90, 10);
    expect(outcome).toMatchObject({ status: 'succeeded', value: 'merged' });
    expect(lastRun.latestRunId).not.toBe(lastRun.firstRunId);
    expect(fake.attempts.map((a) => a.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 90 }, (_, i) => i));
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
    const outcome = await runJob(fake, 1, 1);
    expect(outcome.status).toBe('succeeded');
    expect(fake.attempts.map((a) => [a.attempt, a.provider.slice(0, 2)])).toEqual([
      [1, 'p1'],
      [2, 'p2'],
    ]);
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

  it('replays the recorded histories of earlier versions without non-determinism', async () => {
    const files = (await fs.readdir(fixtures)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const history = JSON.parse(await fs.readFile(path.join(fixtures, f), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `replay-${f}`);
    }
  });
});
