/**
 * A provider's way to get a user's own image where no registry is reachable: the job ships the
 * image as a `docker save` archive (a blob); the provider downloads it (hash-checked), checks it
 * tags the job's image and nothing else, and `docker load`s it. One load per archive at a time:
 * subtasks that need the same image wait for the same load.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { BlobClient } from '../blobs/client.js';
import { ImageArchiveError, imageArchiveProblem } from '../blobs/imageArchive.js';
import { digestOf } from '../blobs/ref.js';

export { ImageArchiveError };

/** Loads an image from its archive blob, fetched with `blobs` (the run's own credentials). */
export type ImageLoader = (image: string, archiveRef: string, blobs: BlobClient) => Promise<void>;

export function createImageLoader(docker: Docker, workRoot: string): ImageLoader {
  const loading = new Map<string, Promise<void>>();

  async function load(image: string, archiveRef: string, blobs: BlobClient): Promise<void> {
    const dir = path.join(workRoot, 'image-archives');
    await fs.mkdir(dir, { recursive: true });
    const tmp = await fs.mkdtemp(path.join(dir, 'load-'));
    const file = path.join(tmp, `${digestOf(archiveRef)}.tar`);
    try {
      await blobs.download(archiveRef, file);
      const problem = await imageArchiveProblem(image, createReadStream(file));
      if (problem) throw new ImageArchiveError(`the image archive ${archiveRef} ${problem}`);
      const progress = await docker.loadImage(createReadStream(file));
      const events = await new Promise<Array<{ error?: string; stream?: string }>>((resolve, reject) =>
        docker.modem.followProgress(progress, (err: Error | null, out: Array<{ error?: string }>) => (err ? reject(err) : resolve(out))),
      );
      const failed = events.find((e) => e.error);
      if (failed) throw new ImageArchiveError(`docker load of ${archiveRef} failed: ${failed.error}`);
      if (!(await docker.getImage(image).inspect().catch(() => undefined)))
        throw new ImageArchiveError(`docker load of ${archiveRef} did not make ${image} (it said: ${events.map((e) => e.stream?.trim()).filter(Boolean).join('; ') || 'nothing'})`);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  return (image, archiveRef, blobs) => {
    const key = `${image} ${archiveRef}`;
    let p = loading.get(key);
    if (!p) {
      p = load(image, archiveRef, blobs).finally(() => loading.delete(key));
      loading.set(key, p);
    }
    return p;
  };
}
