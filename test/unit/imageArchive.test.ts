import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { archiveTagProblem, normalizeImageName, readImageArchiveTags } from '../../blobs/imageArchive.js';

async function tarOf(files: Record<string, string>): Promise<Readable> {
  const pack = tarStream.pack();
  for (const [name, text] of Object.entries(files)) pack.entry({ name }, text);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Readable.from([Buffer.concat(chunks)]);
}

describe('image archives', () => {
  it('reads the tags of a docker save archive from its manifest', async () => {
    const tar = await tarOf({ 'blobs/sha256/aa': 'layer', 'manifest.json': JSON.stringify([{ Config: 'c.json', RepoTags: ['me/tool:2'], Layers: [] }]) });
    expect(await readImageArchiveTags(tar)).toEqual(['me/tool:2']);
  });

  it('says what is wrong with an archive that is not one', async () => {
    await expect(readImageArchiveTags(await tarOf({ 'hello.txt': 'hi' }))).rejects.toThrow('has no manifest.json: make it with `docker save IMAGE -o FILE.tar`');
    await expect(readImageArchiveTags(Readable.from([Buffer.alloc(2048, 7)]))).rejects.toThrow(/is not a tar archive/);
  });

  it('accepts an archive that tags the job image and nothing else', () => {
    expect(normalizeImageName('me/tool')).toBe('me/tool:latest');
    expect(normalizeImageName('docker.io/library/busybox:1')).toBe('busybox:1');
    expect(archiveTagProblem('me/tool:2', ['me/tool:2'])).toBeNull();
    expect(archiveTagProblem('me/tool', ['me/tool:latest'])).toBeNull();
    expect(archiveTagProblem('me/tool:2', ['me/tool:1'])).toBe('holds me/tool:1, not me/tool:2');
    expect(archiveTagProblem('me/tool:2', [])).toBe('holds no tagged image, not me/tool:2');
    expect(archiveTagProblem('me/tool:2', ['me/tool:2', 'golemflow/render:1'])).toBe(
      "also tags golemflow/render:1; an archive may tag only the job's image (me/tool:2)",
    );
  });
});
