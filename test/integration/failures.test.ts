/**
 * What goes wrong, against the real components: containers that fail, run out of memory or
 * time, a provider killed mid-subtask, a cancelled job, bad specs and forged blobs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import Docker from 'dockerode';
import { waitFor } from '../../infra/processes.js';
import { LABEL_PREFIX, removeLabelled } from '../../adapters/sandbox.js';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { jobs } from '../../schema/tables.js';
import { startMarket, submit, waitForJob, SUBMIT, type TestMarket } from '../support/harness.js';

const docker = new Docker();
const image = 'golemflow/compute:1';
const one = { kind: 'range', start: 0, end: 1, step: 1 };

async function containersOfJob(jobId: string) {
  return docker.listContainers({ all: true, filters: { label: [`dev.golemflow.job=${jobId}`] } });
}

const waitUntil = (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => waitFor(what, check, timeoutMs, 200);

describe('failures', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket(['one', 'two']);
  });
  afterAll(async () => {
    await market?.close();
  });

  it('marks a job failed with the container’s exit code and stderr after the spec’s attempts', async () => {
    const id = await submit(market, {
      name: 'broken scene',
      image,
      command: ['sh', '-c', 'echo "cannot open scene.pov" >&2; exit 3'],
      split: one,
      redundancy: 1,
      retries: { maxAttempts: 2 },
    });
    const job = await waitForJob(market, id);
    expect(job.status).toBe('FAILED');
    expect(job.error).toContain('subtask 0 failed after 2 attempts');
    expect(job.error).toContain('exited with code 3: cannot open scene.pov');
    const [s] = job.subtasks;
    expect(s.status).toBe('FAILED');
    expect(s.attempts).toHaveLength(2);
    // The retry went to the other provider.
    expect(new Set(s.attempts.map((a: any) => a.providerId)).size).toBe(2);
    for (const a of s.attempts) {
      expect(a).toMatchObject({ status: 'FAILED', exitCode: 3, failureType: 'CONTAINER_FAILED' });
      expect(a.stderrTail).toContain('cannot open scene.pov');
    }
    // An operator finds it in Temporal the way the README says: failed, by requestor and name.
    const [row] = await market.node.database.db.select({ requestorId: jobs.requestorId }).from(jobs).where(eq(jobs.id, id));
    const query = `GolemflowStatus="failed" AND GolemflowRequestor="${row.requestorId}" AND GolemflowJobName="broken scene"`;
    const found = await vi.waitUntil(
      async () => {
        const ids: string[] = [];
        for await (const w of market.node.client.workflow.list({ query })) ids.push(w.workflowId);
        return ids.includes(id) && ids;
      },
      { timeout: 15_000, interval: 500 },
    );
    expect(found).toEqual([id]);
    const wf = await market.node.client.workflow.getHandle(id).describe();
    expect(wf.status.name).toBe('FAILED');
    expect(await wf.memo).toMatchObject({ requestorId: row.requestorId, name: 'broken scene', subtasks: 1 });
  });

  it('reports a container that runs out of memory', async () => {
    const id = await submit(market, {
      image,
      command: ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}'],
      split: one,
      redundancy: 1,
      resources: { memory: '16m' },
      retries: { maxAttempts: 1 },
    });
    const job = await waitForJob(market, id);
    expect(job.status).toBe('FAILED');
    expect(job.subtasks[0].attempts[0].failureType).toBe('CONTAINER_OUT_OF_MEMORY');
    expect(job.error).toContain('ran out of memory (limit 16 MiB)');
  });

  it('a redundant subtask whose copy fails ends failed at once, every time (its other copy is stopped)', async () => {
    // Copy A's failure and the stop of copy B could meet copy B's own end in one workflow task:
    // cancelling B's record of its run then left a task that could not replay, and the job hung.
    for (let i = 0; i < 4; i++) {
      const id = await submit(market, { image, command: ['sh', '-c', 'exit 7'], split: one, redundancy: 2, retries: { maxAttempts: 1 } });
      const job = await waitForJob(market, id, 30_000);
      expect(job.status).toBe('FAILED');
      expect(job.error).toContain('exited with code 7');
    }
  });

  it('kills a container that passes its timeout', async () => {
    const started = Date.now();
    const id = await submit(market, { image, command: ['sleep', '60'], split: one, redundancy: 1, resources: { timeoutSeconds: 2 }, retries: { maxAttempts: 1 } });
    const job = await waitForJob(market, id);
    expect(job.status).toBe('FAILED');
    expect(job.subtasks[0].attempts[0].failureType).toBe('CONTAINER_TIMED_OUT');
    expect(job.error).toContain('passed its timeout of 2 s');
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await containersOfJob(id)).toHaveLength(0);
  });

  it('runs with no network, a read-only root, as nobody, with no capabilities', async () => {
    const id = await submit(market, {
      image,
      command: [
        'sh',
        '-c',
        'id -u; grep CapEff /proc/self/status; touch /etc/x 2>/dev/null && echo root-writable || echo root-readonly; ls /sys/class/net; echo out > /out/result.txt',
      ],
      split: one,
      redundancy: 1,
      merge: { kind: 'concat' },
    });
    const job = await waitForJob(market, id);
    expect(job.status).toBe('SUCCEEDED');
    const lines = job.result.value.trim().split('\n');
    expect(lines[0]).toBe('65534');
    expect(lines[1]).toMatch(/CapEff:\s+0000000000000000/);
    expect(lines[2]).toBe('root-readonly');
    expect(lines.slice(3)).toEqual(['lo']);
    const { job: withOutputs } = await market.gql('query($id: ID!) { job(id: $id) { subtasks { nodes { outputs { path size ref url } } } } }', { id });
    const [out] = withOutputs.subtasks.nodes[0].outputs;
    expect(out).toMatchObject({ path: 'result.txt', size: 4 });
    expect(await (await fetch(out.url, { headers: market.auth })).text()).toBe('out\n');
  });

  it('cancels a job: its running containers stop and it is marked cancelled', async () => {
    const id = await submit(market, { image, command: ['sleep', '120'], split: { kind: 'range', start: 0, end: 4, step: 1 }, redundancy: 1 });
    await waitUntil('containers to run', async () => (await containersOfJob(id)).filter((c) => c.State === 'running').length === 2);
    const { cancelJob } = await market.gql('mutation($id: ID!) { cancelJob(id: $id, reason: "changed my mind") { id } }', { id });
    expect(cancelJob.id).toBe(id);
    const job = await waitForJob(market, id, 30_000);
    expect(job.status).toBe('CANCELLED');
    expect(job.error).toBe('changed my mind');
    expect(job.subtasks.every((s: any) => s.status === 'CANCELLED')).toBe(true);
    await waitUntil('containers to be gone', async () => (await containersOfJob(id)).length === 0, 15_000);
    await expect(market.gql('mutation($id: ID!) { cancelJob(id: $id) { id } }', { id })).rejects.toThrow(/already ended \(cancelled\)/);
  });

  it('refuses an invalid spec naming each bad field, and creates nothing', async () => {
    const before = (await market.gql('{ jobs(first: 500) { edges { node { id } } } }')).jobs.edges.length;
    const err = await market
      .gql(SUBMIT, { spec: { image: 'golemflow/compute:1', command: ['primes', '{frame}'], split: { kind: 'range', start: 10, end: 5, step: 0 }, colour: 'red' } })
      .catch((e) => e);
    expect(err.errors[0].extensions.code).toBe('INVALID_JOB_SPEC');
    const paths = err.errors[0].extensions.problems.map((p: any) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['/colour', '/split/step']));
    const yaml = await market.gql(SUBMIT, { specText: 'image: golemflow/compute:1\ncommand: [primes, "{start}", "{end}"]\nsplit:\n  kind: range\n  start: 10\n  end: 5\n  step: 1\n' }).catch((e) => e);
    expect(yaml.errors[0].extensions.problems).toEqual([{ path: '/split/end (specText:6)', message: 'must be greater than start (10)' }]);
    const after = (await market.gql('{ jobs(first: 500) { edges { node { id } } } }')).jobs.edges.length;
    expect(after).toBe(before);
  });

  it('refuses a blob whose content does not match its hash', async () => {
    const wrong = 'a'.repeat(64);
    const res = await fetch(`${market.apiUrl}/blobs/sha256/${wrong}`, { method: 'PUT', body: 'hello', headers: market.auth });
    expect(res.status).toBe(422);
    expect((await res.json()).error).toContain(`not sha256:${wrong}`);
    expect((await fetch(`${market.apiUrl}/blobs/sha256/${wrong}`, { headers: market.auth })).status).toBe(404);
    const ok = await fetch(`${market.apiUrl}/blobs`, { method: 'POST', body: 'hello', headers: market.auth });
    expect(await ok.json()).toEqual({ ref: 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', size: 5 });
  });
});

describe('a provider killed while its container runs', () => {
  let market: TestMarket;
  let victim: ChildProcess | undefined;
  let name = '';
  beforeAll(async () => {
    market = await startMarket([]);
    name = `victim-${market.node.config.requestorTaskQueue.split('-').pop()}`;
  });
  afterAll(async () => {
    victim?.kill('SIGKILL');
    // A killed provider leaves its container behind (its own sweep would remove it when it starts again; this one never does).
    if (name) await removeLabelled(new Docker(), { [`${LABEL_PREFIX}.provider`]: name });
    await market?.close();
  });

  it('is found by its heartbeat timeout and the subtask finishes elsewhere', async () => {
    victim = spawn(
      process.execPath,
      ['--import', 'tsx', path.resolve('workers/provider.ts'), '--name', name, '--cpus', '1', '--memory', '1g', '--api', market.apiUrl, '--temporal', market.temporalAddress, '--no-build-runtimes'],
      { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    await waitUntil('the victim to check in', async () => (await market.gql('{ providers(filter: { onlineOnly: true }) { nodes { id } } }')).providers.nodes.length === 1, 60_000);
    const id = await submit(market, {
      image,
      command: ['sh', '-c', 'sleep 4; echo 42'],
      split: one,
      redundancy: 1,
      merge: { kind: 'sum' },
      retries: { maxAttempts: 3, heartbeatTimeoutSeconds: 3 },
    });
    await waitUntil('the container to run on the victim', async () => (await containersOfJob(id)).some((c) => c.State === 'running'));
    const rescuer = await market.addProvider('rescuer');
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    const job = await waitForJob(market, id);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value).toBe('42');
    const [first, second] = job.subtasks[0].attempts;
    expect(first).toMatchObject({ providerId: name, status: 'FAILED', failureType: 'PROVIDER_SILENT' });
    expect(first.reason).toContain('stopped heartbeating');
    expect(second).toMatchObject({ providerId: rescuer.id, status: 'SUCCEEDED' });
    // Found within the heartbeat timeout (3 s), then 4 s of work elsewhere, with room for scheduling.
    expect(Date.now() - killedAt).toBeLessThan(20_000);
  });
});
