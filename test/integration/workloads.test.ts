/**
 * Workloads beyond renders, through the golemflow command line on a real market: a data batch
 * (examples/thumbnails: a thumbnail per photo, collected into outputs.tar.gz) and a user's own
 * image shipped as a `docker save` archive (examples/own-image), loaded by providers that lack
 * it. Results are checked against the same commands run directly in one container.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import Docker from 'dockerode';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refOfFile } from '../../blobs/client.js';
import { EXIT } from '../../cli/golemflow.js';
import { runGolemflow as run } from '../support/cli.js';
import { runDirectly } from '../support/container.js';
import { startMarket, suffix, type TestMarket } from '../support/harness.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

/** The files in a .tar.gz, by name. */
async function untar(file: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tarStream.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      files.set(header.name, Buffer.concat(chunks));
      next();
    });
  });
  await pipeline(createReadStream(file), createGunzip(), extract);
  return files;
}

describe('data batches and a user’s own image', () => {
  const docker = new Docker();
  let market: TestMarket;
  let dir: string;
  const image = `example/wordfreq-${suffix()}:1`;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-workloads-'));
    market = await startMarket(['wl-a', 'wl-b']);
  });
  afterAll(async () => {
    await market?.close();
    await docker.getImage(image).remove({ force: true }).catch(() => undefined);
  });

  it('runs a data batch: one thumbnail per photo, in one archive, each the bytes a direct run makes', async () => {
    const job = path.join(examples, 'thumbnails/job.yaml');
    const out = path.join(dir, 'out');
    const r = await run(['submit', job, '--watch', '--out', out, '--api', market.apiUrl], market.apiKey);
    expect(r.err).toBe('');
    expect(r.code).toBe(EXIT.ok);
    const id = /submitted (job-\S+) \(6 files: 6 uploaded, [\d.]+ KiB\)/.exec(r.out)![1];
    const { job: done } = await market.gql('query($id: ID!) { job(id: $id) { result { value } allocation { released } } }', { id });
    expect(done.result.value).toBe('6 files from 6 subtasks in outputs.tar.gz');
    expect(Number(done.allocation.released)).toBeGreaterThan(0);

    const archive = await untar(path.join(out, id, 'outputs.tar.gz'));
    const photos = (await fs.readdir(path.join(examples, 'thumbnails/photos'))).sort();
    expect([...archive.keys()]).toEqual(photos.map((p) => p.replace(/\.jpg$/, '.thumb.jpg')));
    for (const photo of photos) {
      const stem = photo.replace(/\.jpg$/, '');
      const direct = await runDirectly(
        'golemflow/media:1',
        ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-i', `/in/${photo}`, '-vf', 'scale=160:-2', '-q:v', '3', '-fflags', '+bitexact', '-flags:v', '+bitexact', `/out/${stem}.thumb.jpg`],
        { [photo]: await fs.readFile(path.join(examples, 'thumbnails/photos', photo)) },
      );
      expect(direct.exitCode).toBe(0);
      expect(archive.get(`${stem}.thumb.jpg`)!.equals(direct.outputs.get(`${stem}.thumb.jpg`)!)).toBe(true);
    }
  }, 240_000);

  it('runs a user’s own image from a docker save archive, loaded by providers that lack it', async () => {
    // Build the example image under a name of this test's own, save it, and take it off the engine.
    const build = await docker.buildImage({ context: path.join(examples, 'own-image'), src: ['Dockerfile', 'wordfreq'] }, { t: image });
    await new Promise((resolve, reject) => docker.modem.followProgress(build, (e: Error | null, res: unknown) => (e ? reject(e) : resolve(res))));
    await pipeline(await docker.getImage(image).get(), (await fs.open(path.join(dir, 'tool.tar'), 'w')).createWriteStream());
    await docker.getImage(image).remove({ force: true });
    await fs.cp(path.join(examples, 'own-image/texts'), path.join(dir, 'texts'), { recursive: true });
    const file = path.join(dir, 'own.yaml');
    await fs.writeFile(
      file,
      [
        `image: ${image}`,
        'imageArchive: { file: tool.tar }',
        'command: [wordfreq, "{input}", "3"]',
        'split: { kind: inputs, inputs: [{ files: "texts/*.txt" }] }',
        'redundancy: 2',
        'merge: { kind: concat }',
        '',
      ].join('\n'),
    );
    const r = await run(['submit', file, '--watch', '--out', path.join(dir, 'own-out'), '--api', market.apiUrl], market.apiKey);
    expect(r.err).toBe('');
    expect(r.code).toBe(EXIT.ok);
    const id = /submitted (job-\S+) \(4 files: 4 uploaded, [\d.]+ MiB\)/.exec(r.out)![1];
    // The providers loaded it: the engine has the image again, and it gives the same lines directly.
    expect((await docker.getImage(image).inspect()).RepoTags).toContain(image);
    const texts = (await fs.readdir(path.join(dir, 'texts'))).sort();
    const expected: string[] = [];
    for (const t of texts) {
      const direct = await runDirectly(image, ['wordfreq', `/in/${t}`, '3'], { [t]: await fs.readFile(path.join(dir, 'texts', t)) });
      expected.push(direct.stdout);
    }
    const { job } = await market.gql('query($id: ID!) { job(id: $id) { result { value } } }', { id });
    expect(job.result.value).toBe(expected.join(''));
    // Sent once: the same files again are found on the node and not uploaded again.
    const again = await run(['submit', file, '--watch', '--out', path.join(dir, 'own-out'), '--api', market.apiUrl], market.apiKey);
    expect(again.code).toBe(EXIT.ok);
    expect(again.out).toMatch(/submitted job-\S+ \(4 files: 0 uploaded, 0 B; 4 already on the node\)/);
    expect(job.result.value).toMatch(/^ledger\.txt \d+ words: (\w+=\d+ ){2}\w+=\d+\nmarket\.txt /);
  }, 240_000);

  it('refuses an archive that lacks the job’s image, or is no image archive, naming the line; submits nothing', async () => {
    const wrong = path.join(dir, 'wrong.yaml');
    await fs.writeFile(wrong, `image: example/other:1\nimageArchive: { file: tool.tar }\ncommand: [wordfreq, /in/x]\nsplit: { kind: range, start: 0, end: 1, step: 1 }\n`);
    const r = await run(['submit', wrong, '--api', market.apiUrl], market.apiKey);
    expect(r.code).toBe(EXIT.badInput);
    expect(r.err).toContain(`/imageArchive/file (${wrong}:2): "tool.tar" holds ${image}, not example/other:1`);
    const notTar = path.join(dir, 'nottar.yaml');
    await fs.writeFile(notTar, `image: ${image}\ncommand: [wordfreq, /in/x]\nsplit: { kind: range, start: 0, end: 1, step: 1 }\nimageArchive:\n  file: texts/market.txt\n`);
    const n = await run(['submit', notTar, '--api', market.apiUrl], market.apiKey);
    expect(n.code).toBe(EXIT.badInput);
    expect(n.err).toMatch(new RegExp(`/imageArchive/file \\(${notTar.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5\\): "texts/market.txt" (is not a tar archive|has no manifest\\.json)`));
    // The API refuses the same on its own, for a client that is not the CLI.
    const before = (await market.gql('query { jobs(first: 50) { edges { node { id } } } }')).jobs.edges.length;
    const archiveRef = await refOfFile(path.join(dir, 'tool.tar'));
    await expect(
      market.gql('mutation($spec: JSON!) { submitJob(spec: $spec) { job { id } } }', {
        spec: { image: 'example/other:1', imageArchive: { ref: archiveRef }, command: ['x'], split: { kind: 'range', start: 0, end: 1, step: 1 } },
      }),
    ).rejects.toThrow(`/imageArchive: the archive holds ${image}, not example/other:1`);
    await expect(
      market.gql('mutation($spec: JSON!) { submitJob(spec: $spec) { job { id } } }', {
        spec: { image: 'x', inputs: [{ name: 'a', ref: `sha256:${'0'.repeat(64)}` }], command: ['x'], split: { kind: 'range', start: 0, end: 1, step: 1 } },
      }),
    ).rejects.toThrow(`/inputs/0/ref: no blob sha256:${'0'.repeat(64)} has been uploaded`);
    expect((await market.gql('query { jobs(first: 50) { edges { node { id } } } }')).jobs.edges).toHaveLength(before);
  }, 60_000);
});
