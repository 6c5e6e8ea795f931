/** Content addresses: `sha256:<64 hex>`. Pure helpers shared by the store, the API and providers. */
import { createHash } from 'node:crypto';

export const REF_RE = /^sha256:([0-9a-f]{64})$/;

/** The content address of some bytes. */
export function refOf(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The hex digest of a ref, or undefined when it is not one. */
export function digestOf(ref: string): string | undefined {
  return REF_RE.exec(ref)?.[1];
}
