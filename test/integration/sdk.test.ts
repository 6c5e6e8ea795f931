/**
 * The SDK as programs use it: the example program (plain JavaScript on the compiled SDK,
 * imported by the package's name) runs a job and prints its events and answer; a TypeScript
 * program quotes, maps a command over files (results in input order), uploads and downloads,
 * cancels, and gets a typed error for a failed job.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailureType } from '../../core/failures.js';
import { Golemflow, JobEndedError, type JobEvent } from '../../sdk/index.js';
import { startMarket, type TestMarket } from '../support/harness.js';

const run = promisify(execFile);

describe('the SDK', () => {
  let market: TestMarket;
  let gf: Golemflow;
  beforeAll(async () => {
    // The compiled SDK, as `npm run build` makes it (the example imports golemflow/sdk from dist/).
    await Promise.all([run(process.execPath, [path.resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']), (async () => (market = await startMarket(['sdk-a', 'sdk-b'])))()]);
    gf = await Golemflow.connect({ url: market.apiUrl, apiKey: market.apiKey });
  }, 300_000);
  afterAll(async () => {
    await market?.close();
  });

  it('the example program runs a job on the compiled SDK and prints its events and answer', async () => {
    const { stdout } = await run(process.execPath, ['examples/sdk/primes.mjs', '20000'], { env: { ...process.env, GOLEMFLOW_API: market.apiUrl, GOLEMFLOW_API_KEY: market.apiKey } });
    expect(stdout).toMatch(/^quote: [0-9.]+ GLM for 8 runs$/m);
    expect(stdout).toMatch(/^submitted job-/m);
    expect(stdout).toMatch(/^ {2}JOB_STARTED$/m);
    expect(stdout).toMatch(/^ {2}SUBTASK_FINISHED #3 on sdk-/m);
    expect(stdout).toContain('primes below 20000: 2262');
  });

  it('maps a command over files: one subtask each, results in the order of the inputs; outputs download', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sdk-map-'));
    const files = ['one', 'two', 'three'].map((w, i) => path.join(dir, `${i}-${w}.txt`));
    await Promise.all(files.map((f, i) => fs.writeFile(f, `${'word '.repeat(i + 1)}\n`)));
    const events: JobEvent[] = [];
    const results = await gf.map(files, { image: 'golemflow/compute:1', command: ['sh', '-c', 'cat /in/* | wc -w'], redundancy: 1, onEvent: (e) => events.push(e) });
    expect(results.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(results.every((r) => r.status === 'SUCCEEDED')).toBe(true);
    const counts = [];
    for (const r of results) {
      const out = path.join(dir, `out-${r.index}`);
      await gf.downloadFile(r.resultRef!, out);
      counts.push((await fs.readFile(out, 'utf8')).trim());
    }
    expect(counts).toEqual(['1', '2', '3']);
    expect(events.at(-1)?.type).toBe('JOB_SUCCEEDED');
    // Another requestor's client cannot read them.
    const stranger = await Golemflow.connect({ url: market.apiUrl, apiKey: 'gf_nobody.secret' });
    await expect(stranger.downloadFile(results[0].resultRef!, path.join(dir, 'stolen'))).rejects.toThrow();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reports a failed job with a typed error, and cancels a running one', async () => {
    const failing = await gf.submit({ image: 'golemflow/compute:1', command: ['sh', '-c', 'exit 7'], split: { kind: 'range', start: 0, end: 1, step: 1 }, retries: { maxAttempts: 1 } });
    const err = await failing.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobEndedError);
    expect((err as JobEndedError).code).toBe(FailureType.JobFailed);
    expect((err as JobEndedError).job.error).toContain('exited with code 7');

    const long = await gf.submit('image: golemflow/compute:1\ncommand: [sleep, "60"]\nsplit: { kind: range, start: 0, end: 1, step: 1 }\n');
    await long.cancel('no longer needed');
    const cancelled = await long.result().catch((e: unknown) => e);
    expect((cancelled as JobEndedError).code).toBe(FailureType.JobCancelled);
    const mine = [];
    for await (const j of gf.jobs({ status: ['CANCELLED'] })) mine.push(j.id);
    expect(mine).toContain(long.id);
  });
});
