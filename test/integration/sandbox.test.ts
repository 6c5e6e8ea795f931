/**
 * The sandbox's turn (SandboxRequest.ready): a provider makes the container while the run waits
 * for a slot, so a freed slot costs only the start. Against the real Docker engine.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInSandbox, type SandboxRequest } from '../../adapters/sandbox.js';
import { suffix } from '../support/harness.js';

describe('the sandbox made ahead of its turn', () => {
  const docker = new Docker();
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-sandbox-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function request(name: string, ready: () => Promise<void>): Promise<SandboxRequest> {
    const work = path.join(dir, name);
    await fs.mkdir(path.join(work, 'in'), { recursive: true });
    await fs.mkdir(path.join(work, 'out'), { recursive: true });
    await fs.chmod(path.join(work, 'out'), 0o777);
    return { name, image: 'golemflow/compute:1', command: ['echo', 'hello'], inputDir: path.join(work, 'in'), outputDir: path.join(work, 'out'), logDir: path.join(work, 'log'), cpus: 1, memoryBytes: 64 * 1024 ** 2, timeoutMs: 60_000, ready };
  }

  const stateOf = (name: string) => docker.getContainer(name).inspect().then((c) => c.State.Status, (e) => (e.statusCode === 404 ? 'gone' : Promise.reject(e)));

  it('waits for its turn with the container made but not started, then runs it', async () => {
    const name = `gf-test-turn-${suffix()}`;
    let go!: () => void;
    const turn = new Promise<void>((resolve) => (go = resolve));
    let waiting!: () => void;
    const asked = new Promise<void>((resolve) => (waiting = resolve));
    const running = runInSandbox(docker, await request(name, () => (waiting(), turn)));
    await asked;
    expect(await stateOf(name)).toBe('created');
    await new Promise((r) => setTimeout(r, 1000));
    go();
    const res = await running;
    expect(res.exitCode).toBe(0);
    expect(await fs.readFile(res.stdoutFile, 'utf8')).toBe('hello\n');
    // The wait is not the container's time.
    expect(res.wallSeconds).toBeLessThan(1);
    expect(await stateOf(name)).toBe('gone');
  });

  it('removes the container unstarted when the turn never comes, and says why', async () => {
    const name = `gf-test-noturn-${suffix()}`;
    const err = await runInSandbox(docker, await request(name, async () => Promise.reject(new Error('the agreement ended while it waited')))).catch((e) => e);
    expect(err.message).toBe('the agreement ended while it waited');
    expect(await stateOf(name)).toBe('gone');
  });
});
