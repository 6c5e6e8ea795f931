/**
 * The requestor node's blob store: content-addressed files in a local folder. Writes go to a
 * temporary file that is hashed as it streams and renamed into place only when the hash is
 * the expected one, so a half-written or forged blob is never visible.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobHashMismatchError, BlobNotFoundError } from '../core/failures.js';
import { digestOf, hashMeter, refOf } from './ref.js';

export interface BlobInfo {
  ref: string;
  size: number;
}

export class BlobStore {
  constructor(readonly root: string) {}

  private pathOf(ref: string): string {
    const hex = digestOf(ref);
    if (!hex) throw new Error(`not a blob reference: ${JSON.stringify(ref)} (expected sha256:<64 hex digits>)`);
    return path.join(this.root, 'sha256', hex.slice(0, 2), hex);
  }

  /** Stores a stream; when `expected` is given the content must hash to it or nothing is stored. */
  async put(source: Readable | AsyncIterable<Uint8Array> | Buffer, expected?: string, opts: { maxBytes?: number } = {}): Promise<BlobInfo> {
    if (expected && !digestOf(expected)) throw new Error(`not a blob reference: ${JSON.stringify(expected)}`);
    await fs.mkdir(path.join(this.root, 'tmp'), { recursive: true });
    const tmp = path.join(this.root, 'tmp', randomBytes(8).toString('hex'));
    const meter = hashMeter(opts.maxBytes);
    const input = Buffer.isBuffer(source) ? Readable.from([source]) : Readable.from(source);
    try {
      await pipeline(input, meter.stream, createWriteStream(tmp));
      const { ref, size } = meter.result();
      if (expected && ref !== expected) throw new BlobHashMismatchError(digestOf(expected)!, digestOf(ref)!);
      const dest = this.pathOf(ref);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await fs.rename(tmp, dest);
      return { ref, size };
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** Stores bytes held in memory. */
  putBytes(bytes: Buffer | string): Promise<BlobInfo> {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
    return this.put(buf, refOf(buf));
  }

  async has(ref: string): Promise<boolean> {
    return fs.access(this.pathOf(ref)).then(
      () => true,
      () => false,
    );
  }

  async stat(ref: string): Promise<BlobInfo> {
    const file = this.pathOf(ref);
    try {
      const st = await fs.stat(file);
      return { ref, size: st.size };
    } catch {
      throw new BlobNotFoundError(ref);
    }
  }

  /** A stream of the blob's bytes; throws BlobNotFoundError when it is absent. */
  async open(ref: string): Promise<Readable> {
    await this.stat(ref);
    return createReadStream(this.pathOf(ref));
  }

  async read(ref: string): Promise<Buffer> {
    await this.stat(ref);
    return fs.readFile(this.pathOf(ref));
  }
}
