/**
 * The golemflow command line against a real market: exit codes, the messages for a bad job
 * file (file, field, line), a watched render job whose report, timeline and video land on disk.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/golemflow.js';
import { runGolemflow } from '../support/cli.js';
import { startMarket, type TestMarket } from '../support/harness.js';
import { SCENE_FILES } from '../support/scene.js';

const run = runGolemflow;

describe('the golemflow CLI', () => {
  let market: TestMarket;
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-cli-'));
    market = await startMarket(['cli-a', 'cli-b']);
  });
  afterAll(async () => {
    await market?.close();
  });

  it('refuses a job file with a mistake, naming the file, the field and the line; submits nothing', async () => {
    const file = path.join(dir, 'bad.yaml');
    await fs.writeFile(file, 'image: golemflow/compute:1\ncommand: [primes, "{start}", "{end}"]\nsplit: { kind: range, start: 0, end: 10, step: 1 }\nredundancy: 9\ncolour: blue\n');
    const r = await run(['submit', file, '--api', market.apiUrl], market.apiKey);
    expect(r.code).toBe(EXIT.badInput);
    expect(r.err).toContain(`${file} is not a valid job:`);
    expect(r.err).toContain(`/redundancy (${file}:4): must be <= 5`);
    expect(r.err).toContain(`/colour (${file}:5): is not a known field`);
    const missing = path.join(dir, 'missing.yaml');
    await fs.writeFile(missing, 'image: golemflow/render:1\ncommand: [render]\nsplit: { kind: frames, first: 0, last: 1 }\ninputs:\n  - file: nowhere.pov\n');
    const m = await run(['submit', missing, '--api', market.apiUrl], market.apiKey);
    expect(m.code).toBe(EXIT.badInput);
    expect(m.err).toContain(`/inputs/0/file (${missing}:5): cannot read "nowhere.pov": ENOENT`);
    expect((await run(['submit', path.join(dir, 'none.yaml')])).err).toMatch(/none\.yaml: cannot be read: ENOENT/);
    const { jobs } = await market.gql('{ jobs { edges { node { id } } } }');
    expect(jobs.edges).toHaveLength(0);
  });

  it('says when the API cannot be reached, and when a job does not exist', async () => {
    expect((await run(['status', 'job-x', '--api', 'http://127.0.0.1:9'])).code).toBe(EXIT.api);
    const r = await run(['status', 'job-none', '--api', market.apiUrl], market.apiKey);
    expect(r.code).toBe(EXIT.badInput);
    expect(r.err).toContain('job job-none does not exist');
  });

  it('submits a render with a local scene, watches it, and writes the video, the report and the timeline', async () => {
    await fs.mkdir(path.join(dir, 'scene'));
    for (const [name, bytes] of Object.entries(SCENE_FILES)) await fs.writeFile(path.join(dir, 'scene', name), bytes);
    const file = path.join(dir, 'render.yaml');
    await fs.writeFile(
      file,
      [
        'name: cli render',
        'image: golemflow/render:1',
        'command: [render, /in/scene.pov, "{start}", "{end}", "{first}", "{last}", "96", "72"]',
        'inputs:',
        '  - files: "scene/*"   # the scene, its include and its texture',
        'split: { kind: frames, first: 0, last: 3, framesPerSubtask: 2 }',
        'redundancy: 2',
        // POV-Ray stamps each PNG with its render time: copies agree on pixels, not bytes.
        'verification: { compare: image, image: { pixelThreshold: 0, maxDiffRatio: 0 } }',
        'merge: { kind: video, fps: 4 }',
        '',
      ].join('\n'),
    );
    const out = path.join(dir, 'out');
    const r = await run(['submit', file, '--watch', '--out', out, '--api', market.apiUrl], market.apiKey);
    expect(r.err).toBe('');
    expect(r.code).toBe(EXIT.ok);
    const id = /submitted (job-\S+) \(3 files: 3 uploaded, [\d.]+ (B|KiB)\)/.exec(r.out)![1];
    const folder = path.join(out, id);
    const report = await fs.readFile(path.join(folder, 'report.txt'), 'utf8');
    expect(report).toContain(`job ${id} (cli render): succeeded`);
    expect(report).toMatch(/provider\s+attempts\s+accepted\s+rejected\s+failed\s+busy s\s+GLM earned\s+GLM refused/);
    for (const p of market.providers) expect(report).toMatch(new RegExp(`${p.id}\\s+\\d+\\s+\\d+\\s+0\\s+0`));
    const svg = await fs.readFile(path.join(folder, 'timeline.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    // Two lanes, a bar per attempt (2 subtasks × 2 copies), each coloured as accepted.
    expect(svg.match(/<g><title>subtask \d, attempt \d: accepted/g)).toHaveLength(4);
    expect((await fs.stat(path.join(folder, 'video.mp4'))).size).toBeGreaterThan(1000);
    expect((await fs.readdir(path.join(folder, 'outputs'))).sort()).toEqual(['frame-0000.png', 'frame-0001.png', 'frame-0002.png', 'frame-0003.png']);

    const status = await run(['status', id, '--api', market.apiUrl], market.apiKey);
    expect(status.code).toBe(EXIT.ok);
    expect(status.out).toContain('subtasks: 2 succeeded, 0 running, 0 failed of 2');
    const logs = await run(['logs', id, '--api', market.apiUrl], market.apiKey);
    expect(logs.out).toMatch(/job succeeded/);
    const cancel = await run(['cancel', id, '--api', market.apiUrl], market.apiKey);
    expect(cancel.code).toBe(EXIT.api);
    expect(cancel.err).toContain('has already ended (succeeded)');
    const providers = await run(['providers', '--api', market.apiUrl], market.apiKey);
    for (const p of market.providers) expect(providers.out).toContain(p.id);

    // For scripts: JSON on every read command, one exit code for what is not there.
    const asJson = JSON.parse((await run(['status', id, '--json', '--api', market.apiUrl], market.apiKey)).out);
    expect(asJson).toMatchObject({ id, status: 'SUCCEEDED', subtaskCount: 2 });
    const jobs = JSON.parse((await run(['jobs', '--status', 'succeeded', '--json', '--api', market.apiUrl], market.apiKey)).out);
    expect(jobs.map((j: { id: string }) => j.id)).toContain(id);
    const quote = await run(['quote', file, '--api', market.apiUrl], market.apiKey);
    expect(quote.code).toBe(EXIT.ok);
    expect(quote.out).toMatch(/^[0-9.]+ GLM for 4 runs/);
    const earned = await run(['provider', 'status', market.providers[0].id, '--api', market.apiUrl], market.apiKey);
    expect(earned.code).toBe(EXIT.ok);
    expect(earned.out).toMatch(/GLM: [0-9.]+ paid in \d+ payments/);
    expect(JSON.parse((await run(['provider', 'status', market.providers[0].id, '--json', '--api', market.apiUrl], market.apiKey)).out).history.accepted).toBeGreaterThan(0);
    expect((await run(['provider', 'status', 'nobody', '--api', market.apiUrl], market.apiKey)).code).toBe(EXIT.notFound);
    expect((await run(['cancel', 'job-nothing', '--api', market.apiUrl], market.apiKey)).code).toBe(EXIT.notFound);
    expect((await run(['status', 'job-nothing', '--api', market.apiUrl], market.apiKey)).code).toBe(EXIT.notFound);
    const version = await run(['--version']);
    expect(version.code).toBe(EXIT.ok);
  }, 180_000);
});
