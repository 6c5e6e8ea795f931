/**
 * The workflows' own logic (bounded children, attempts moving between providers, fail-fast)
 * with in-memory fakes for the activities, on the real Temporal dev server.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { RequestorActivities } from '../../activities/requestor.js';
import type { RunRequest, RunResult } from '../../activities/types.js';
import { suffix, workflowBundle } from '../support/harness.js';

interface Fake {
  running: number;
  maxRunning: number;
  attempts: Array<{ index: number; attempt: number; provider: string }>;
  ended: Array<{ status: string; error?: string }>;
  outcome: (req: RunRequest, provider: string) => Promise<RunResult>;
}

const ok = (out: string): RunResult => ({ status: 'succeeded', exitCode: 0, stdoutTail: out, stderrTail: '', stdoutRef: `ref-${out}`, outputs: [], cpuSeconds: 0, wallSeconds: 0 });

function fakeRequestor(fake: Fake, providers: string[], subtaskCount: number, maxParallel: number): Partial<RequestorActivities> {
  return {
    prepareJob: async () => ({ subtaskCount, maxParallel, maxAttempts: 2, heartbeatTimeoutSeconds: 5, timeoutSeconds: 30 }),
    loadSubtask: async ({ jobId, index }) => ({ jobId, index, image: 'x', command: ['x'], inputs: [], cpus: 1, memoryBytes: 1, timeoutSeconds: 30 }),
    startAttempt: async ({ index, attempt, exclude }) => {
      const provider = providers.find((p) => !exclude.includes(p)) ?? providers[0];
      fake.attempts.push({ index, attempt, provider });
      return { providerId: provider, taskQueue: `q-${provider}` };
    },
    finishAttempt: async () => undefined,
    endSubtask: async () => undefined,
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
    const result = client.workflow.execute('jobWorkflow', { taskQueue, workflowId: `job-${id}`, args: [{ jobId: `job-${id}` }] });
    await Promise.all(all.map((w) => w.runUntil(result)));
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
    const outcome = await runJob(fake, 4, 4);
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toBe('subtask 0 failed after 2 attempts: exited with code 2: bad frame');
    expect(fake.ended).toEqual([{ status: 'failed', error: outcome.error }]);
  });
});
