/**
 * Hard limits, tried as a hostile client and a hostile job would: an alias bomb, a deep query,
 * an oversized body, an unbounded chunked upload, NUL bytes, tiny cpus, stdout and /out floods,
 * an image that declares a VOLUME. Each is refused or stopped with a clear error, and the node
 * stays responsive.
 */
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiKey } from '../../api/auth.js';
import { gql } from '../../infra/graphqlClient.js';
import { startMarket, submit, SUBMIT, waitForJob, type TestMarket } from '../support/harness.js';

const run = promisify(execFile);
const image = 'golemflow/compute:1';
const one = { kind: 'range', start: 0, end: 1, step: 1 };
const errorOf = (p: Promise<unknown>) => p.then(() => ({ message: 'no error', extensions: {} as Record<string, unknown> }), (e) => e.errors?.[0] ?? { message: e.message, extensions: {} });

describe('hard limits', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket([], { limits: { blobBytes: 8 * 1024 * 1024, blobBytesPerRequestor: 12 * 1024 * 1024, activeJobsPerRequestor: 2 } });
    await market.addProvider('bounded', { outputLimits: { stdoutBytes: 1024 * 1024, outBytes: 4 * 1024 * 1024 } });
  });
  afterAll(async () => {
    await market?.close();
  });

  it('an alias bomb is refused in well under a second while /health stays fast', async () => {
    const bomb = `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: providers { id reputation history { accepted wrong } }`).join(' ')} }`;
    const started = Date.now();
    const [e, health] = await Promise.all([errorOf(market.gql(bomb)), (async () => {
      const t = Date.now();
      const ok = (await fetch(`${market.apiUrl}/health`)).ok;
      return { ok, ms: Date.now() - t };
    })()]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(e.message).toMatch(/Aliases limit of 30 exceeded|Token limit of 5000 exceeded/);
    expect(health.ok).toBe(true);
    expect(health.ms).toBeLessThan(500);
  });

  it('a query nested 150 levels deep is refused', async () => {
    const deep = `{ provider(id: "x") { offer { ${'provider { offer { '.repeat(75)} providerId ${'} } '.repeat(75)} } } }`;
    const e = await errorOf(market.gql(deep));
    // Whichever bound it meets first: its cost grows with depth too.
    expect(e.message).toMatch(/Query depth limit of 12 exceeded|Query Cost limit of 250000 exceeded/);
    expect(e.message).not.toMatch(/Unexpected error/);
  });

  it('a 20 MB body is refused with 413, a body without a length with 411', async () => {
    const big = await fetch(`${market.apiUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ providers { nodes { id } } }`, pad: 'x'.repeat(20 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    expect((await big.json()).errors[0].message).toMatch(/above the limit of 1048576 \(MAX_BODY_BYTES\)/);
    const chunked = await fetch(`${market.apiUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Readable.toWeb(Readable.from([Buffer.from('{"query":"{ providers { id } }"}')])) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(411);
    expect(await market.gql('{ providers { nodes { id } } }')).toBeTruthy();
  });

  it('a chunked upload is cut at the blob limit, counted on the bytes streamed, and nothing is stored', async () => {
    const chunks = function* () {
      for (let i = 0; i < 40; i++) yield Buffer.alloc(1024 * 1024, i);
    };
    for (const [method, url] of [['POST', `${market.apiUrl}/blobs`], ['PUT', `${market.apiUrl}/blobs/sha256/${'a'.repeat(64)}`]]) {
      const res = await fetch(url, { method, headers: market.auth, body: Readable.toWeb(Readable.from(chunks())) as ReadableStream, duplex: 'half' } as RequestInit).catch((e) => e as Error);
      // The node answers 413 and closes; a client still sending may see the connection reset instead.
      if (res instanceof Response) {
        expect(res.status).toBe(413);
        expect((await res.json()).error).toBe('blob is above the limit of 8388608 bytes (MAX_BLOB_BYTES)');
      } else expect(res.message).toMatch(/fetch failed|socket|reset/i);
    }
    const { stdout } = await run('sh', ['-c', `find ${market.node.config.dataDir}/blobs -type f | wc -l`]);
    expect(Number(stdout.trim())).toBe(0);
  });

  it('a requestor\'s uploads stop at its quota (counted on the bytes streamed), and no one else\'s quota is touched', async () => {
    const db = market.node.database.db;
    const hoarder = { authorization: `Bearer ${await issueApiKey(db, `hoarder-${Date.now()}`)}` };
    const put = (fill: number, headers: Record<string, string>, chunked = false) =>
      fetch(`${market.apiUrl}/blobs`, {
        method: 'POST',
        headers,
        body: chunked ? (Readable.toWeb(Readable.from([Buffer.alloc(3 * 1024 * 1024, fill), Buffer.alloc(3 * 1024 * 1024, fill)])) as ReadableStream) : new Uint8Array(Buffer.alloc(5 * 1024 * 1024, fill)),
        duplex: 'half',
      } as RequestInit).catch((e) => e as Error);
    for (const fill of [1, 2]) expect(((await put(fill, hoarder)) as Response).status).toBe(201);
    const third = await put(3, hoarder);
    expect((third as Response).status).toBe(413);
    expect((await (third as Response).json()).error).toBe('5 MiB is above the quota of 12 MiB (MAX_REQUESTOR_BLOB_BYTES); 2 MiB is left');
    // Without a length, the upload is cut one byte past what is left.
    const chunked = await put(4, hoarder, true);
    if (chunked instanceof Response) {
      expect(chunked.status).toBe(413);
      expect((await chunked.json()).error).toContain('is above the quota of 12 MiB (MAX_REQUESTOR_BLOB_BYTES)');
    } else expect(chunked.message).toMatch(/fetch failed|socket|reset/i);
    // Another requestor's quota is its own.
    expect(((await put(5, market.auth)) as Response).status).toBe(201);
  });

  it('NUL bytes, other control characters and lone surrogates are refused with the field that holds them', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ name: 'a\u0000b' }, '/name', 'holds the control character U+0000 at position 1'],
      [{ command: ['echo', 'x\u0007'] }, '/command/1', 'holds the control character U+0007 at position 1'],
      [{ demand: { blockedProviders: ['p\ud800'] } }, '/demand/blockedProviders/0', 'is not valid Unicode: a lone surrogate U+D800 at position 1'],
    ];
    for (const [extra, path, message] of cases) {
      const e = await errorOf(market.gql(SUBMIT, { spec: { image, command: ['echo', 'ok'], split: one, ...extra } }));
      expect(e.extensions.code).toBe('INVALID_JOB_SPEC');
      expect(e.extensions.problems).toContainEqual({ path, message });
    }
  });

  it('cpus below 0.01 are refused (Docker would run them with no limit at all)', async () => {
    for (const cpus of [1e-10, 0.001]) {
      const e = await errorOf(market.gql(SUBMIT, { spec: { image, command: ['true'], split: one, resources: { cpus } } }));
      expect(e.extensions.code).toBe('INVALID_JOB_SPEC');
      expect(e.message).toContain('/resources/cpus: must be >= 0.01');
    }
  });

  it('a stdout flood and an /out flood stop the container, fail the job (not the provider), and /tmp is the job user’s', async () => {
    const flood = await waitForJob(market, await submit(market, { image, command: ['sh', '-c', 'while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done'], split: one, redundancy: 1, retries: { maxAttempts: 1 } }));
    expect(flood.status).toBe('FAILED');
    expect(flood.subtasks[0].attempts[0]).toMatchObject({ failureType: 'OUTPUT_TOO_LARGE' });
    expect(flood.error).toContain('wrote more than 1048576 bytes to stdout and was stopped');
    const out = await waitForJob(market, await submit(market, { image, command: ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do head -c 1000000 /dev/zero > /out/f$i; done; sleep 5'], split: one, redundancy: 1, retries: { maxAttempts: 1 } }));
    expect(out.status).toBe('FAILED');
    expect(out.error).toContain('wrote more than 4194304 bytes under /out and was stopped');
    const { provider } = await market.gql('query($id: ID!) { provider(id: $id) { history { failures timeouts wrong } } }', { id: market.providers[0].id });
    expect(provider.history).toEqual({ failures: 0, timeouts: 0, wrong: 0 });
    const tmp = await waitForJob(market, await submit(market, { image, command: ['sh', '-c', 'echo scratch > /tmp/x && cat /tmp/x'], split: one, redundancy: 1 }));
    expect(tmp.status).toBe('SUCCEEDED');
    expect(tmp.subtasks[0].attempts[0].stdoutTail).toBe('scratch\n');
  });

  it('an image that declares a VOLUME gets a bounded tmpfs there, and no volume outlives the run', async () => {
    const docker = new Docker();
    const tag = `golemflow-test/volume:${Date.now()}`;
    await run('sh', ['-c', `printf 'FROM ${image}\\nVOLUME /data\\n' | docker build -q -t ${tag} -`]);
    try {
      const before = ((await docker.listVolumes()).Volumes ?? []).length;
      const job = await waitForJob(market, await submit(market, { image: tag, command: ['sh', '-c', 'echo kept > /data/x && cat /data/x && grep " /data " /proc/mounts'], split: one, redundancy: 1 }));
      expect(job.status).toBe('SUCCEEDED');
      expect(job.subtasks[0].attempts[0].stdoutTail).toMatch(/^kept\ntmpfs \/data tmpfs /);
      expect(((await docker.listVolumes()).Volumes ?? []).length).toBe(before);
    } finally {
      await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    }
  });

  it('a requestor with its quota of jobs queued or running is refused another, and others are not held back', async () => {
    const { issueApiKey } = await import('../../api/auth.js');
    const greedy = await issueApiKey(market.node.database.db, 'greedy');
    const other = await issueApiKey(market.node.database.db, 'other');
    const long = { image, command: ['sleep', '60'], split: one, redundancy: 1 };
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await market.gql<any>(SUBMIT, { spec: long }, { apiKey: greedy })).submitJob.job.id);
    const e = await errorOf(market.gql(SUBMIT, { spec: long }, { apiKey: greedy }));
    expect(e).toMatchObject({ message: 'requestor greedy has 2 jobs queued or running, the most allowed (MAX_ACTIVE_JOBS 2); wait for one to end or cancel one', extensions: { code: 'QUOTA_EXCEEDED' } });
    const fine = await market.gql<any>(SUBMIT, { spec: { ...long, command: ['true'] } }, { apiKey: other });
    expect(fine.submitJob.job.id).toBeTruthy();
    for (const id of ids) await market.gql('mutation($id: ID!) { cancelJob(id: $id) { id } }', { id }, { apiKey: greedy });
    await market.gql('mutation($id: ID!) { cancelJob(id: $id) { id } }', { id: fine.submitJob.job.id }, { apiKey: other }).catch(() => undefined);
  });

  it('gql still answers ordinary queries', async () => {
    expect((await market.gql<any>('{ providers { nodes { id } } }')).providers.nodes).toHaveLength(1);
  });
});
