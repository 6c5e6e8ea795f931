/**
 * A market that never stalls: a job that fails while its placements wait for a slot must leave
 * no agreement behind, a subtask waiting for a slot says why, and whatever leaks anyway (a
 * workflow terminated from the Temporal UI, a stray row) is ended by the sweeper.
 */
import Docker from 'dockerode';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { agreements } from '../../schema/tables.js';
import { EXIT } from '../../cli/golemflow.js';
import { runGolemflow } from '../support/cli.js';
import { startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';

const image = 'golemflow/compute:1';

const OPEN = /* GraphQL */ `
  query Open($jobId: ID) {
    agreements(filter: { jobId: $jobId, state: [PROPOSED, APPROVED] }) { nodes { id providerId state endedAt } }
  }
`;

const HEALTH = /* GraphQL */ `
  query {
    marketHealth {
      healthy problems slotsOffered slotsInUse agreementsQueued
      providers { providerId online slots inUse queued jobs }
      staleAgreements { reason agreement { id state providerId } }
      overdueSubtasks { jobId index }
      sweeper { sweeps agreementsEnded jobsEnded lastError }
    }
  }
`;

const JOB_NOTE = /* GraphQL */ `
  query Note($id: ID!) { job(id: $id) { status waiting note subtasks { nodes { status note } } } }
`;

const one = { kind: 'range', start: 0, end: 1, step: 1 };

describe('a market that never stalls', () => {
  let market: TestMarket;
  beforeAll(async () => {
    // One provider with one slot: every placement of the failing job but one waits for it. The
    // sweeper sweeps only when a test asks (so what it finds is certain) and looks at Temporal
    // after 2 s instead of 30 s; the chaos trial runs it on its own clock.
    market = await startMarket(['solo'], { sweepGraceMs: 2_000, sweepIntervalMs: 3_600_000 });
  });
  afterAll(async () => {
    await market?.close();
  });

  it('a job that fails while its placements wait for a slot leaves the provider free for the next job', async () => {
    const failing = await submit(market, {
      image,
      command: ['sh', '-c', 'echo "broken on purpose" >&2; exit 3'],
      split: { kind: 'range', start: 0, end: 4, step: 1 },
      redundancy: 1,
      maxParallel: 4,
      retries: { maxAttempts: 1 },
    });
    const failed = await waitForJob(market, failing);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toContain('exited with code 3: broken on purpose');

    // Placements that were waiting when the job failed must not take the freed slot afterwards.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await market.gql(OPEN, { jobId: failing })).agreements.nodes).toEqual([]);

    const next = await submit(market, { image, command: ['echo', 'still here'], split: { kind: 'range', start: 0, end: 1, step: 1 }, redundancy: 1 });
    const done = await waitForJob(market, next, 60_000);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.subtasks[0].attempts[0].stdoutTail).toContain('still here');
  });

  it('reports a healthy market: every slot free, nothing stale, nothing overdue', async () => {
    const h = (await market.gql(HEALTH)).marketHealth;
    expect(h.problems).toEqual([]);
    expect(h.healthy).toBe(true);
    expect(h.staleAgreements).toEqual([]);
    expect(h.overdueSubtasks).toEqual([]);
    expect(h.slotsInUse).toBe(0);
    expect(h.slotsOffered).toBe(1);
    expect(h.agreementsQueued).toBe(0);
    expect(h.providers).toEqual([{ providerId: market.providers[0].id, online: true, slots: 1, inUse: 0, queued: 0, jobs: [] }]);
    const cli = await runGolemflow(['health', '--api', market.apiUrl], market.apiKey);
    expect(cli.code).toBe(EXIT.ok);
    expect(cli.out).toContain('healthy: no stale agreements, no overdue subtasks');
    expect(cli.out).toContain('slots in use 0 of 1 offered');
  });

  it('a subtask that waits for a slot says so on the job, naming the job that holds it', async () => {
    // Two subtasks on one slot: the first runs, the second's agreement waits behind it (one may
    // wait per slot), so a third subtask finds the provider full.
    const busy = await submit(market, { image, command: ['sleep', '6'], split: { kind: 'range', start: 0, end: 2, step: 1 }, redundancy: 1, maxParallel: 2 });
    await vi.waitUntil(
      async () => {
        const h = (await market.gql(HEALTH)).marketHealth;
        return h.slotsInUse === 1 && h.agreementsQueued === 1;
      },
      { timeout: 30_000, interval: 200 },
    );
    const waiting = await submit(market, { image, command: ['echo', 'after'], split: one, redundancy: 1 });
    const job = await vi.waitUntil(
      async () => {
        const j = (await market.gql(JOB_NOTE, { id: waiting })).job;
        return j.waiting === 1 && j;
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(job.note).toBe(`subtask 0: waiting for a free slot: 1 provider busy with job ${busy} (${market.providers[0].id} 1/1 +1 waiting)`);
    const h = (await market.gql(HEALTH)).marketHealth;
    expect(h.providers[0]).toMatchObject({ inUse: 1, queued: 1, jobs: [busy] });
    expect(h.healthy).toBe(true);
    const cli = await runGolemflow(['health', '--api', market.apiUrl], market.apiKey);
    expect(cli.out).toContain('slots in use 1 of 1 offered; 1 agreement waiting for a slot');
    // The waiting run started the moment the first container ended, on the one slot: never two at once.
    const done = await waitForJob(market, busy, 60_000);
    expect(done.status).toBe('SUCCEEDED');
    const runs = (await market.gql('query($id: ID!) { job(id: $id) { subtasks { nodes { attempts { startedAt finishedAt } } } } }', { id: busy })).job.subtasks.nodes.flatMap((t: any) => t.attempts);
    const span = Math.max(...runs.map((a: any) => Date.parse(a.finishedAt))) - Math.min(...runs.map((a: any) => Date.parse(a.startedAt)));
    expect(span).toBeGreaterThanOrEqual(12_000);
    expect((await waitForJob(market, waiting, 60_000)).status).toBe('SUCCEEDED');
    const after = (await market.gql(JOB_NOTE, { id: waiting })).job;
    expect(after.note).toBeNull();
  });

  it('the sweeper ends an agreement left open by a job that ended (a leak from anywhere)', async () => {
    const [done] = (await market.gql('{ jobs(first: 1, filter: { status: [SUCCEEDED] }) { nodes { id } } }')).jobs.nodes.map((j: any) => j.id);
    const db = market.node.database.db;
    const providerId = market.providers[0].id;
    const id = `${done}.0.99.1`;
    await db.insert(agreements).values({
      id,
      jobId: done,
      subtaskIndex: 0,
      attempt: 99,
      providerId,
      requestorId: 'r',
      pricing: { start: 0, cpuSecond: 0, envSecond: 0 },
      maxDurationSeconds: 60,
      explanation: { preference: 'cheapest', offersSeen: 1, ranked: [], excludedCounts: {}, excluded: [], winner: providerId },
    });
    const before = (await market.gql(HEALTH)).marketHealth;
    expect(before.healthy).toBe(false);
    expect(before.staleAgreements).toEqual([{ reason: 'its job had ended (succeeded)', agreement: { id, state: 'PROPOSED', providerId } }]);
    expect(before.problems[0]).toContain(`agreement ${id} (proposed, provider ${providerId}) is still open although its job had ended (succeeded)`);
    const cli = await runGolemflow(['health', '--api', market.apiUrl], market.apiKey);
    expect(cli.code).toBe(EXIT.jobFailed);
    expect(cli.out).toContain(`UNHEALTHY: 1 problem\n  - agreement ${id} (proposed, provider ${providerId}) is still open although its job had ended (succeeded)`);
    // One sweep ends it.
    expect(await market.node.sweeper.sweep()).toEqual({ agreementsEnded: 1, jobsEnded: 0 });
    const [row] = await db.select().from(agreements).where(eq(agreements.id, id));
    expect(row).toMatchObject({ state: 'expired', endedBy: 'sweeper', endReason: 'swept: its job had ended (succeeded)' });
    expect((await market.gql(HEALTH)).marketHealth.healthy).toBe(true);
  });

  it('a batch holds its subtasks\' agreements: the sweeper leaves them while it runs, and ends one whose workflow is gone', async () => {
    // maxParallel 16: the two subtasks run in one batch workflow (core/batches.ts), not one each.
    const id = await submit(market, { image, command: ['sleep', '120'], split: { kind: 'range', start: 0, end: 2, step: 1 }, redundancy: 1, maxParallel: 16 });
    await vi.waitUntil(async () => (await market.gql(JOB_NOTE, { id })).job.subtasks.nodes[0]?.status === 'RUNNING', { timeout: 30_000, interval: 200 });
    const db = market.node.database.db;
    const batch = `${id}/subtasks-0-1`;
    const held = await db.select().from(agreements).where(eq(agreements.jobId, id));
    expect(held.length).toBeGreaterThan(0);
    for (const a of held) expect(a.workflowId).toBe(batch);
    // Past the sweeper's grace, a look at Temporal finds the batch running: nothing is ended.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await market.node.sweeper.sweep({ temporal: true })).toEqual({ agreementsEnded: 0, jobsEnded: 0 });
    expect((await db.select().from(agreements).where(eq(agreements.jobId, id))).filter((a) => a.endedAt !== null)).toEqual([]);

    // An agreement of this running job whose workflow Temporal does not know is ended.
    const providerId = market.providers[0].id;
    const stray = `${id}.1.99.1`;
    const gone = `${id}/subtasks-90-91`;
    await db.insert(agreements).values({
      id: stray,
      jobId: id,
      subtaskIndex: 1,
      attempt: 99,
      providerId,
      requestorId: 'r',
      workflowId: gone,
      pricing: { start: 0, cpuSecond: 0, envSecond: 0 },
      maxDurationSeconds: 60,
      explanation: { preference: 'cheapest', offersSeen: 1, ranked: [], excludedCounts: {}, excluded: [], winner: providerId },
      proposedAt: new Date(Date.now() - 10_000),
    });
    expect(await market.node.sweeper.sweep({ temporal: true })).toEqual({ agreementsEnded: 1, jobsEnded: 0 });
    const [row] = await db.select().from(agreements).where(eq(agreements.id, stray));
    expect(row).toMatchObject({ state: 'expired', endedBy: 'sweeper', endReason: `swept: its workflow ${gone} is unknown to Temporal` });

    await market.gql('mutation($id: ID!) { cancelJob(id: $id, reason: "done looking") { id } }', { id });
    expect((await waitForJob(market, id, 60_000)).status).toBe('CANCELLED');
    expect((await market.gql(OPEN, { jobId: id })).agreements.nodes).toEqual([]);
  });

  it('a job whose workflow was terminated outside Golemflow ends, its container is killed and its slot freed', async () => {
    const docker = new Docker();
    const id = await submit(market, { image, command: ['sleep', '120'], split: one, redundancy: 1 });
    await vi.waitUntil(async () => (await market.gql(JOB_NOTE, { id })).job.subtasks.nodes[0]?.status === 'RUNNING', { timeout: 30_000, interval: 200 });
    await vi.waitUntil(async () => (await docker.listContainers({ filters: { label: [`dev.golemflow.job=${id}`] } })).length === 1, { timeout: 30_000, interval: 200 });
    // As an operator would from the Temporal UI: terminate the job's workflow, not cancel it.
    await market.node.client.workflow.getHandle(id).terminate('terminated by an operator');
    // The sweeper's next look at Temporal ends the job its workflow can no longer end.
    await vi.waitUntil(async () => (await market.node.sweeper.sweep({ temporal: true })).jobsEnded === 1, { timeout: 20_000, interval: 500 });
    const job = await waitForJob(market, id, 10_000);
    expect(job.status).toBe('FAILED');
    expect(job.error).toBe('its workflow was terminated outside Golemflow (ended by the sweeper)');
    expect((await market.gql(OPEN, { jobId: id })).agreements.nodes).toEqual([]);
    await vi.waitUntil(async () => (await docker.listContainers({ filters: { label: [`dev.golemflow.job=${id}`] } })).length === 0, { timeout: 30_000, interval: 250 });
    const next = await submit(market, { image, command: ['echo', 'free again'], split: one, redundancy: 1 });
    expect((await waitForJob(market, next, 60_000)).status).toBe('SUCCEEDED');
    expect((await market.gql(HEALTH)).marketHealth.problems).toEqual([]);
    expect((await market.gql(HEALTH)).marketHealth.sweeper).toMatchObject({ jobsEnded: 1, lastError: null });
  });
});
