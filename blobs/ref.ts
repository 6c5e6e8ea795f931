/** Content addresses: `sha256:<64 hex>`. Pure helpers shared by the store, the API and providers. */
import { createHash } from 'node:crypto';
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
export function hashMeter(): { stream: Transform; result(): { ref: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, result: () => ({ ref: `sha256:${hash.digest('hex')}`, size }) };
}
