/**
 * What a `docker save` archive holds: the image names (repo tags) in its manifest.json. Read
 * before anything is loaded, by the API (to refuse a job whose archive lacks its image) and by
 * a provider (so that an archive cannot retag an image the provider already has, such as a
 * runtime other requestors rely on).
 */
import { FailureType, GolemflowError } from '../core/failures.js';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';

/** An image archive that is not what the job said (not a `docker save`, or without its image): the job's fault. */
export class ImageArchiveError extends GolemflowError {
  constructor(message: string) {
    super(FailureType.ImageMissing, message);
  }
}

/** The name Docker gives an image in a saved archive: `name:tag`, with `:latest` when no tag, without docker.io's prefixes. */
export function normalizeImageName(image: string): string {
  const name = image.replace(/^docker\.io\/(library\/)?/, '');
  if (name.includes('@')) return name;
  return /:[^/]+$/.test(name) ? name : `${name}:latest`;
}

/** The repo tags of every image in a `docker save` archive (stream of the tar). */
export async function readImageArchiveTags(tar: Readable): Promise<string[]> {
  const extract = tarStream.extract();
  let manifest: string | null = null;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      if (header.name === 'manifest.json' || header.name === './manifest.json') {
        const chunks: Buffer[] = [];
        stream.on('data', (c) => void chunks.push(c as Buffer));
        stream.on('end', () => {
          manifest = Buffer.concat(chunks).toString('utf8');
          next();
        });
      } else {
        stream.on('end', next);
        stream.resume();
      }
    });
    extract.on('finish', resolve);
    extract.on('error', (e: Error) => reject(new ImageArchiveError(`is not a tar archive: ${e.message}`)));
    tar.on('error', reject);
  });
  tar.pipe(extract);
  await done;
  if (manifest === null) throw new ImageArchiveError('has no manifest.json: make it with `docker save IMAGE -o FILE.tar`');
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifest);
  } catch {
    throw new ImageArchiveError('has a manifest.json that is not JSON');
  }
  if (!Array.isArray(parsed)) throw new ImageArchiveError('has a manifest.json that lists no images');
  return parsed.flatMap((m: { RepoTags?: unknown }) => (Array.isArray(m.RepoTags) ? m.RepoTags.filter((t): t is string => typeof t === 'string') : []));
}

/**
 * Why the archive in `tar` cannot serve `image` (it is no image archive, lacks the image or tags
 * another), or null when it can: the one check the CLI, the API and a provider make.
 */
export async function imageArchiveProblem(image: string, tar: Readable): Promise<string | null> {
  try {
    return archiveTagProblem(image, await readImageArchiveTags(tar));
  } catch (e) {
    if (e instanceof ImageArchiveError) return e.message;
    throw e;
  }
}

/**
 * Why an archive with these tags cannot serve `image`, or null when it can: it must tag the
 * image, and nothing else (loading it must not retag another image on the machine).
 */
export function archiveTagProblem(image: string, tags: string[]): string | null {
  const want = normalizeImageName(image);
  const names = tags.map(normalizeImageName);
  if (!names.includes(want)) return `holds ${names.length ? names.join(', ') : 'no tagged image'}, not ${want}`;
  const others = names.filter((n) => n !== want);
  if (others.length) return `also tags ${others.join(', ')}; an archive may tag only the job's image (${want})`;
  return null;
}
