/**
 * A provider's way to the requestor node's blobs: GET and PUT over HTTP, so a provider on
 * another machine needs only the API's address. Every download is hashed as it arrives and
 * refused when it does not match its name.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import pRetry from 'p-retry';
import { BlobHashMismatchError, BlobNotFoundError, FailureType, GolemflowError } from '../core/failures.js';
import { digestOf, hashMeter } from './ref.js';

/** A node that answers 502-504 is restarting or behind a proxy that is: worth asking again. */
class NodeUnavailable extends GolemflowError {
  constructor(message: string) {
    super(FailureType.Unavailable, message);
  }
}

/** How long a call keeps asking a node it cannot reach (it may be restarting) before it gives up. */
export const BLOB_RETRY_MS = 60_000;

export class BlobClient {
  /**
   * `authorization` names the caller (the node reads only what it holds): `Bearer <API key>` for
   * a requestor, `Agreement <id> <signature>` for a provider running under an agreement.
   * `retryForMs`: how long a call is repeated while the node cannot be reached.
   */
  constructor(
    readonly apiUrl: string,
    readonly authorization?: string,
    readonly retryForMs = BLOB_RETRY_MS,
  ) {}

  /** The same node, called as someone else. */
  as(authorization: string): BlobClient {
    return new BlobClient(this.apiUrl, authorization, this.retryForMs);
  }

  /**
   * A call repeated while the node cannot be reached or answers 502-504 (a requestor node that
   * restarts must not make a provider's finished work fail, and the provider be blamed for it).
   * Any other answer is final.
   */
  private reaching<T>(call: () => Promise<T>): Promise<T> {
    return pRetry(call, {
      retries: Infinity,
      maxRetryTime: this.retryForMs,
      minTimeout: 250,
      maxTimeout: 5_000,
      // p-retry passes on only network failures among TypeErrors; the rest of ours are final.
      shouldRetry: ({ error }) => error instanceof NodeUnavailable || error instanceof TypeError,
    });
  }

  private get headers(): Record<string, string> {
    return this.authorization ? { authorization: this.authorization } : {};
  }

  private urlOf(ref: string): string {
    const hex = digestOf(ref);
    if (!hex) throw new Error(`not a blob reference: ${JSON.stringify(ref)}`);
    return new URL(`/blobs/sha256/${hex}`, this.apiUrl).toString();
  }

  /** Downloads a blob to `file`, checking its hash on the way. */
  async download(ref: string, file: string): Promise<number> {
    const meter = await this.reaching(async () => {
      const res = await fetch(this.urlOf(ref), { headers: this.headers });
      if (res.status === 404) throw new BlobNotFoundError(ref);
      if (res.status >= 502 && res.status <= 504) throw new NodeUnavailable(`GET ${this.urlOf(ref)}: HTTP ${res.status}`);
      if (!res.ok || !res.body) throw new Error(`GET ${this.urlOf(ref)}: HTTP ${res.status} ${await res.text().catch(() => '')}`.trim());
      const m = hashMeter();
      await pipeline(Readable.fromWeb(res.body as WebReadableStream), m.stream, createWriteStream(file));
      return m;
    });
    const { ref: actual, size } = meter.result();
    if (actual !== ref) {
      await fs.rm(file, { force: true });
      throw new BlobHashMismatchError(digestOf(ref)!, digestOf(actual)!);
    }
    return size;
  }

  /** Whether the node already holds a blob (a HEAD request): a file it has need not be sent again. */
  async has(ref: string): Promise<boolean> {
    const res = await fetch(this.urlOf(ref), { method: 'HEAD', headers: this.headers });
    if (res.status === 404) return false;
    if (!res.ok) throw new Error(`HEAD ${this.urlOf(ref)}: HTTP ${res.status}${res.status === 401 ? ' (the API needs a key: GOLEMFLOW_API_KEY)' : ''}`);
    return true;
  }

  /** Uploads a file under its ref (computed by the caller); the server checks the hash again. */
  async uploadFile(file: string, ref: string): Promise<void> {
    const { size } = await fs.stat(file);
    await this.reaching(async () => {
      const res = await fetch(this.urlOf(ref), {
        method: 'PUT',
        body: Readable.toWeb(createReadStream(file)) as unknown as BodyInit,
        headers: { ...this.headers, 'content-type': 'application/octet-stream', 'content-length': String(size) },
        duplex: 'half',
      } as RequestInit);
      if (res.status >= 502 && res.status <= 504) throw new NodeUnavailable(`PUT ${this.urlOf(ref)}: HTTP ${res.status}`);
      if (!res.ok) throw new Error(`PUT ${this.urlOf(ref)}: HTTP ${res.status} ${await res.text()}`);
    });
  }
}

/** The sha256 ref of a file on disk, streamed. */
export async function refOfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return `sha256:${hash.digest('hex')}`;
}
