/**
 * A frame-split POV-Ray render on the real stack, verified by crop spot checks: each lone
 * frame range is checked by re-rendering random crops on another provider. The frames that
 * come out are identical, pixel for pixel, to the same frames rendered directly in one
 * container; a provider whose renders are wrong is caught by the crops.
 */
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPUTATION_CACHE_MS } from '../../adapters/marketData.js';
import type { ProviderNode } from '../../workers/provider.js';
import { runDirectly } from '../support/container.js';
import { startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';
import { SCENE_FILES } from '../support/scene.js';

const image = 'golemflow/render:1';
const W = 160;
const H = 120;

async function upload(market: TestMarket, bytes: Buffer | string): Promise<string> {
  const res = await fetch(`${market.apiUrl}/blobs`, { method: 'POST', body: typeof bytes === 'string' ? bytes : new Uint8Array(bytes), headers: market.auth });
  return ((await res.json()) as { ref: string }).ref;
}

/** Renders frames first..last in one container, outside Golemflow, for comparison. */
async function renderDirectly(first: number, last: number, animFirst: number, animLast: number): Promise<Map<string, Buffer>> {
  const res = await runDirectly(image, ['render', '/in/scene.pov', String(first), String(last), String(animFirst), String(animLast), String(W), String(H)], SCENE_FILES);
  expect(res.exitCode).toBe(0);
  return res.outputs;
}

const pixels = (png: Buffer) => PNG.sync.read(png).data;

/** ffprobe (golemflow/media:1) on a video: its codec, size and counted frames. */
async function ffprobe(video: Buffer): Promise<Record<string, unknown>> {
  const res = await runDirectly(
    'golemflow/media:1',
    ['ffprobe', '-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', '/in/video.mp4'],
    { 'video.mp4': video },
  );
  expect(res.exitCode).toBe(0);
  return JSON.parse(res.stdout).streams[0];
}

describe('a frame-split render with crop spot checks', () => {
  let market: TestMarket;
  let liar: ProviderNode;
  beforeAll(async () => {
    market = await startMarket([]);
    liar = await market.addProvider('a-liar', { misbehaviour: { mode: 'wrong-output', probability: 1, seed: 11 } });
    await market.addProvider('b-honest');
    await market.addProvider('c-honest');
  });
  afterAll(async () => {
    await market?.close();
  });

  it('renders the frames identically to a direct render, and the crops catch a wrong renderer', async () => {
    // The scene, its include and its texture travel as blobs.
    const inputs: Array<{ name: string; ref: string }> = [];
    for (const [name, bytes] of Object.entries(SCENE_FILES)) inputs.push({ name, ref: await upload(market, bytes) });
    const spec = (last: number) => ({
      image,
      command: ['render', '/in/scene.pov', '{start}', '{end}', '{first}', '{last}', String(W), String(H)],
      inputs,
      split: { kind: 'frames', first: 0, last, framesPerSubtask: 2 },
      redundancy: 1,
      maxParallel: 3,
      merge: { kind: 'video', fps: 6 },
      verification: {
        compare: 'image',
        image: { pixelThreshold: 0, maxDiffRatio: 0, minPsnr: null },
        cropCheck: { command: ['render', '/in/scene.pov', '{start}', '{end}', '{first}', '{last}', String(W), String(H), '{crops}'], crops: 2, size: 0.2 },
      },
    });
    const id = await submit(market, spec(5));
    const job = await waitForJob(market, id, 240_000).catch(async (e) => {
      console.log(JSON.stringify((await market.gql(`query($id: ID!) { job(id: $id) { events(first: 500) { nodes { type message } } } }`, { id })).job.events.nodes, null, 1));
      throw e;
    });
    expect(job.status).toBe('SUCCEEDED');

    const { job: detail } = await market.gql(
      `query($id: ID!) { job(id: $id) { subtasks { nodes { index outputs { path url } provider { id } attempts { number providerId role status verdict comparisons { same detail } } } } } }`,
      { id },
    );
    detail.subtasks = detail.subtasks.nodes;
    const direct = await renderDirectly(0, 5, 0, 5);
    expect([...direct.keys()].sort()).toEqual(['frame-0000.png', 'frame-0001.png', 'frame-0002.png', 'frame-0003.png', 'frame-0004.png', 'frame-0005.png']);
    const got: string[] = [];
    for (const s of detail.subtasks) {
      expect(s.provider.id).not.toBe(liar.id);
      for (const o of s.outputs) {
        got.push(o.path);
        const bytes = Buffer.from(await (await fetch(o.url, { headers: market.auth })).arrayBuffer());
        expect(Buffer.compare(pixels(bytes), pixels(direct.get(o.path)!)), `${o.path} differs from the direct render`).toBe(0);
      }
      // Every lone result was crop-checked by another provider; none of the liar's results was
      // accepted. Its crop check of another's result may agree (and be accepted with it): crops
      // that fall on black, which its wrong lighting leaves black, are right.
      const done = s.attempts.filter((a: any) => a.status === 'SUCCEEDED');
      expect(done.length).toBeGreaterThanOrEqual(2);
      for (const a of done.filter((x: any) => x.providerId === liar.id && x.role === 'COPY')) expect(a.verdict).toBe('REJECTED');
    }
    expect(got.sort()).toEqual([...direct.keys()].sort());

    const all = detail.subtasks.flatMap((s: any) => s.attempts);
    expect(all.some((a: any) => a.providerId === liar.id && a.verdict === 'REJECTED')).toBe(true);
    // The merged video: 6 frames of 160×120, as ffprobe counts them.
    const { job: merged } = await market.gql(`query($id: ID!) { job(id: $id) { result { value outputs { path url size } } } }`, { id });
    expect(merged.result.value).toBe('6 frames at 6 fps');
    expect(merged.result.outputs.map((o: any) => o.path)).toEqual(['video.mp4', 'preview.gif']);
    const probe = await ffprobe(Buffer.from(await (await fetch(merged.result.outputs[0].url, { headers: market.auth })).arrayBuffer()));
    expect(probe).toEqual({ codec_name: 'h264', width: W, height: H, nb_read_frames: '6' });

    // Caught, the liar is out of the market (once placement's reputation cache catches up): the
    // next render is checked by honest providers only, and their crops agree.
    await new Promise((r) => setTimeout(r, REPUTATION_CACHE_MS + 200));
    const next = await waitForJob(market, await submit(market, spec(3)), 240_000);
    expect(next.status).toBe('SUCCEEDED');
    const { job: checked } = await market.gql(`query($id: ID!) { job(id: $id) { events(first: 500) { nodes { type message } } subtasks { nodes { attempts { providerId comparisons { same detail } } } } } }`, { id: next.id });
    const attempts = checked.subtasks.nodes.flatMap((s: any) => s.attempts);
    expect(attempts.every((a: any) => a.providerId !== liar.id)).toBe(true);
    expect(attempts.some((a: any) => a.comparisons.some((c: any) => c.same && /crops of 2 frames match/.test(c.detail)))).toBe(true);
    expect(checked.events.nodes.some((e: any) => /crop check of .* by .*: agrees/.test(e.message ?? ''))).toBe(true);
  }, 300_000);

  it("shows the renderer's own error when a scene does not parse", async () => {
    const bad = await upload(market, 'sphere { <0, 0, 0> 1 pigment { colr Red } }\n');
    const id = await submit(market, {
      image,
      command: ['render', '/in/scene.pov', '{start}', '{end}', '{first}', '{last}', '32', '24'],
      inputs: [{ name: 'scene.pov', ref: bad }],
      split: { kind: 'frames', first: 0, last: 0 },
      redundancy: 1,
      retries: { maxAttempts: 1 },
    });
    const job = await waitForJob(market, id, 120_000);
    expect(job.status).toBe('FAILED');
    expect(job.subtasks[0].error).toContain("File 'scene.pov' line 1: Parse Error: No matching } in 'pigment', undeclared identifier 'colr' found instead");
  });
});
