/**
 * Comparison beyond byte equality, on the real stack: PNG outputs compared within an image
 * tolerance (a provider whose pixels are a little off still agrees; a wrong image does not),
 * and a user's comparator command run in a container on the requestor's node.
 */
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderNode } from '../../workers/provider.js';
import { startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';

const image = 'golemflow/compute:1';

/** A 96×64 gradient: the "frame" each subtask renders (copies) to /out. */
function gradientPng(): Buffer {
  const png = new PNG({ width: 96, height: 64 });
  for (let y = 0; y < 64; y++)
    for (let x = 0; x < 96; x++) {
      const i = (y * 96 + x) * 4;
      png.data[i] = x * 2;
      png.data[i + 1] = y * 3;
      png.data[i + 2] = 128;
      png.data[i + 3] = 255;
    }
  return PNG.sync.write(png);
}

async function upload(market: TestMarket, bytes: Buffer): Promise<string> {
  const res = await fetch(`${market.apiUrl}/blobs`, { method: 'POST', body: new Uint8Array(bytes), headers: market.auth });
  return ((await res.json()) as { ref: string }).ref;
}

const frameJob = (ref: string, verification: Record<string, unknown>) => ({
  image,
  command: ['cp', '/in/frame.png', '/out/frame-{index}.png'],
  inputs: [{ name: 'frame.png', ref }],
  split: { kind: 'range', start: 0, end: 4, step: 1 },
  redundancy: 2,
  maxParallel: 2,
  verification,
});

describe('image tolerance', () => {
  let market: TestMarket;
  let noisy: ProviderNode;
  let liar: ProviderNode;
  let honest: ProviderNode;
  beforeAll(async () => {
    market = await startMarket([]);
    // A provider whose renders are a few pixels off (not dishonest), one that paints over its
    // images, and one exact. Each subtask's two copies go to two of them.
    noisy = await market.addProvider('a-noisy', { misbehaviour: { mode: 'noisy-output', probability: 1, seed: 3 } });
    liar = await market.addProvider('b-liar', { misbehaviour: { mode: 'wrong-output', probability: 1, seed: 3 } });
    honest = await market.addProvider('c-exact');
  });
  afterAll(async () => {
    await market?.close();
  });

  it('counts slightly different images as one result, rejects a wrong image, and shows the difference score', async () => {
    const ref = await upload(market, gradientPng());
    const id = await submit(market, frameJob(ref, { compare: 'image', image: { pixelThreshold: 0, maxDiffRatio: 0.01, minPsnr: 35 }, maxExtraRuns: 2 }));
    const job = await waitForJob(market, id, 120_000);
    expect(job.status).toBe('SUCCEEDED');
    const { job: detail } = await market.gql(
      `query($id: ID!) { job(id: $id) { subtasks { nodes { index votes attempts { number providerId status verdict resultKey comparisons { against same detail diffRatio psnr } } } } } }`,
      { id },
    );
    detail.subtasks = detail.subtasks.nodes;
    let noisyAccepted = 0;
    for (const s of detail.subtasks) {
      const done = s.attempts.filter((a: any) => a.status === 'SUCCEEDED');
      for (const a of done) {
        if (a.providerId === liar.id) expect(a.verdict).toBe('REJECTED');
        else expect(a.verdict).toBe('ACCEPTED');
      }
      const noisyRun = done.find((a: any) => a.providerId === noisy.id);
      const exactRun = done.find((a: any) => a.providerId === honest.id);
      if (noisyRun && exactRun) {
        noisyAccepted++;
        // Not byte-identical, yet one result: whichever finished second carries the comparison's evidence.
        const c = [...noisyRun.comparisons, ...exactRun.comparisons].find((x: any) => x.same);
        expect(c.diffRatio).toBeGreaterThan(0);
        expect(c.diffRatio).toBeLessThan(0.01);
        expect(c.psnr).toBeGreaterThan(35);
        expect(c.detail).toMatch(/pixels differ .*within tolerance/);
        expect(noisyRun.resultKey).toBe(exactRun.resultKey);
      }
      for (const a of done.filter((x: any) => x.providerId === liar.id && x.comparisons.length)) {
        expect(a.comparisons.every((c: any) => !c.same)).toBe(true);
        expect(a.comparisons[0].detail).toMatch(/% of pixels differ \(most allowed 1\.000%\)/);
      }
    }
    expect(noisyAccepted).toBeGreaterThan(0);
  });

  it('under exact comparison the same slightly different images disagree', async () => {
    const ref = await upload(market, gradientPng());
    const spec = { ...frameJob(ref, { compare: 'exact', maxExtraRuns: 0 }), split: { kind: 'range', start: 0, end: 1, step: 1 } };
    const job = await waitForJob(market, await submit(market, spec), 120_000);
    // Any two of noisy, liar and exact produce different bytes: no majority without tie-breakers.
    expect(job.status).toBe('FAILED');
    expect(job.subtasks[0].error).toMatch(/no result had a majority after 2 runs/);
  });
});

describe("a user's comparator command", () => {
  let market: TestMarket;
  let liar: ProviderNode;
  beforeAll(async () => {
    market = await startMarket([]);
    liar = await market.addProvider('a-liar', { misbehaviour: { mode: 'wrong-output', probability: 1, seed: 5 } });
    await market.addProvider('b-honest');
    await market.addProvider('c-honest');
  });
  afterAll(async () => {
    await market?.close();
  });

  // Numbers within 0 of each other agree: awk reads both copies' stdout.
  const comparator = {
    image,
    command: ['awk', 'NR==FNR { a = $1; next } { d = a - $1; if (d < 0) d = -d; print "difference " d; exit (d <= 0 ? 0 : 1) }', '/in/a/stdout', '/in/b/stdout'],
  };

  it('decides which copies agree, in a container, and its output is the evidence', async () => {
    const id = await submit(market, {
      image,
      command: ['primes', '{start}', '{end}'],
      split: { kind: 'range', start: 0, end: 30_000, step: 10_000 },
      merge: { kind: 'sum' },
      redundancy: 2,
      verification: { compare: 'command', comparator },
    });
    const job = await waitForJob(market, id, 120_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value).toBe('3245');
    const { job: detail } = await market.gql(`query($id: ID!) { job(id: $id) { subtasks { nodes { attempts { providerId status verdict comparisons { same detail } } } } } }`, { id });
    detail.subtasks = detail.subtasks.nodes;
    const lies = detail.subtasks.flatMap((s: any) => s.attempts).filter((a: any) => a.providerId === liar.id && a.status === 'SUCCEEDED');
    expect(lies.length).toBeGreaterThan(0);
    for (const a of lies) expect(a.verdict).toBe('REJECTED');
    const evidence = detail.subtasks.flatMap((s: any) => s.attempts).flatMap((a: any) => a.comparisons);
    expect(evidence.some((c: any) => !c.same && /comparator exit 1: difference 1/.test(c.detail))).toBe(true);
  });

  it('a comparator that fails fails the subtask with its own message, not the providers', async () => {
    const id = await submit(market, {
      image,
      // A different answer on every run, so the comparator is always asked.
      command: ['cat', '/proc/sys/kernel/random/uuid'],
      split: { kind: 'range', start: 0, end: 1, step: 1 },
      redundancy: 2,
      verification: { compare: 'command', comparator: { image, command: ['sh', '-c', 'echo "no such column" >&2; exit 7'] } },
    });
    const job = await waitForJob(market, id, 120_000);
    expect(job.status).toBe('FAILED');
    expect(job.subtasks[0].error).toMatch(/^subtask 0 could not compare results: the comparator failed with exit code 7: no such column/);
    // Not the providers' fault: no result is marked wrong.
    expect(job.subtasks[0].attempts.every((a: any) => a.verdict !== 'REJECTED')).toBe(true);
  });
});
