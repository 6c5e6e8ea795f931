/**
 * More than one requestor worker: a second requestor node process serves the same task queue
 * against the same PostgreSQL and Temporal, both take work, and the second is SIGKILLed
 * mid-job. The job completes with every result, and no subtask is accepted twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../support/scratch.js';
import { startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';

describe('two requestor workers on one task queue', () => {
  let market: TestMarket;
  let second: ChildProcess | undefined;

  beforeAll(async () => {
    market = await startMarket(['rw-a', 'rw-b']);
    const cfg = market.node.config;
    const port = await freePort();
    second = spawn(process.execPath, ['--import', 'tsx', path.resolve('workers/requestor.ts')], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: market.temporalAddress,
        DATABASE_URL: cfg.databaseUrl,
        REQUESTOR_TASK_QUEUE: cfg.requestorTaskQueue,
        GOLEMFLOW_REQUESTOR_ID: cfg.requestorId,
        GOLEMFLOW_DATA: path.join(os.tmpdir(), `golemflow-second-worker-${port}`),
        API_PORT: String(port),
        CHAIN_RPC_URL: cfg.chain.rpcUrl,
        REQUESTOR_PRIVATE_KEY: cfg.chain.privateKey,
        LOG_LEVEL: 'warn',
        TEMPORAL_LOG_LEVEL: 'ERROR',
      },
    });
    await vi.waitUntil(() => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), { timeout: 90_000, interval: 300 });
  }, 120_000);

  afterAll(async () => {
    second?.kill('SIGKILL');
    await market?.close();
  });

  it('both take work; one killed mid-job loses nothing and accepts nothing twice', async () => {
    const id = await submit(market, {
      image: 'golemflow/compute:1',
      command: ['sh', '-c', 'sleep 1; echo {start}'],
      split: { kind: 'range', start: 0, end: 10, step: 1 },
      merge: { kind: 'concat' },
      redundancy: 1,
      maxParallel: 4,
    });
    await vi.waitUntil(async () => (await market.gql('query($id: ID!) { job(id: $id) { succeededCount } }', { id })).job.succeededCount >= 2, { timeout: 60_000, interval: 200 });
    second!.kill('SIGKILL');
    const job = await waitForJob(market, id, 120_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value.trim().split('\n')).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    for (const s of job.subtasks) expect(s.attempts.filter((a: any) => a.verdict === 'ACCEPTED'), `subtask ${s.index}`).toHaveLength(1);

    // Both processes worked on this job: its workflow tasks name two worker identities.
    const connection = await Connection.connect({ address: market.temporalAddress });
    try {
      const client = new Client({ connection });
      const identities = new Set<string>();
      for (const wf of [id, ...job.subtasks.map((s: any) => `${id}/subtask-${s.index}`)]) {
        const history = await client.workflow.getHandle(wf).fetchHistory();
        for (const e of history.events ?? []) {
          const who = e.workflowTaskStartedEventAttributes?.identity;
          if (who) identities.add(who);
        }
      }
      expect(identities.size).toBeGreaterThanOrEqual(2);
    } finally {
      await connection.close();
    }
  });
});
