/** Content addresses: `sha256:<64 hex>`. Pure helpers shared by the store, the API and providers. */
import { createHash } from 'node:crypto';
import { BlobTooLargeError } from '../core/failures.js';
import { Transform } from 'node:stream';

export const REF_RE = /^sha256:([0-9a-f]{64})$/;

/** The content address of some bytes. */
export function refOf(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The hex digest of a ref, or undefined when it is not one. */
export function digestOf(ref: string): string | undefined {
  return REF_RE.exec(ref)?.[1];
}

/** A pass-through stream that hashes and counts what flows through it; `result()` after the end. */
export function hashMeter(maxBytes = Infinity): { stream: Transform; result(): { ref: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      // Counted on the bytes as they stream: a chunked upload has no length to trust beforehand.
      if (size > maxBytes) return cb(new BlobTooLargeError(maxBytes));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  return { stream, result: () => ({ ref: `sha256:${hash.digest('hex')}`, size }) };
}
