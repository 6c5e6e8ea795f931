/**
 * Blob endpoints, beside GraphQL on the same port so a provider needs only the API's address:
 *   GET|HEAD /blobs/sha256/<hex>   the blob's bytes
 *   PUT      /blobs/sha256/<hex>   store bytes that must hash to <hex> (else 422, nothing stored)
 *   POST     /blobs                store bytes, answer {ref, size}
 * Every call names its caller, and reads only what that caller holds (api/blobAccess.ts): a
 * blob the caller may not read answers 404, as one that does not exist, so a hash proves nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlobHashMismatchError, BlobNotFoundError, BlobTooLargeError } from '../core/failures.js';
import { formatSize } from '../core/units.js';
import { blobs } from '../schema/tables.js';
import { BlobAccessError, blobCaller, grantUpload, mayRead, uploadRoom, type BlobCaller } from './blobAccess.js';
import type { ApiDeps } from './deps.js';

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** 413, and the connection closed: the rest of an oversized body is not read. */
function tooLarge(res: ServerResponse, req: IncomingMessage, message: string): true {
  res.setHeader('connection', 'close');
  res.once('finish', () => req.destroy());
  send(res, 413, { error: message });
  return true;
}

/** Handles the request when it is a blob route; answers false when it is not one. */
export async function handleBlobRoute(deps: ApiDeps, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://local');
  if (!url.pathname.startsWith('/blobs')) return false;
  const m = /^\/blobs\/sha256\/([0-9a-f]{64})$/.exec(url.pathname);
  const limits = deps.config.limits;
  const blobLimit = `blob is above the limit of ${limits.blobBytes} bytes (MAX_BLOB_BYTES)`;
  try {
    const caller = await blobCaller(deps.db, req.headers.authorization);

    /** Streams a body into the store (hashed, and checked against `ref` when named) within the caller's limits. */
    const store = async (ref: string | undefined, caller: BlobCaller): Promise<boolean> => {
      const { room, quota, setting } = await uploadRoom(deps.db, caller, limits);
      const overQuota = (size: number) => `${size === room + 1 ? 'this upload' : formatSize(size)} is above the quota of ${formatSize(quota)} (${setting}); ${formatSize(room)} is left`;
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > limits.blobBytes) return tooLarge(res, req, blobLimit);
      if (length > room) return tooLarge(res, req, overQuota(length));
      // A body without a length is counted as it streams: one byte past the room stops it.
      const maxBytes = Math.min(limits.blobBytes, room);
      let info;
      try {
        info = await deps.blobs.put(req, ref, { maxBytes });
      } catch (e) {
        if (e instanceof BlobTooLargeError && maxBytes < limits.blobBytes) return tooLarge(res, req, overQuota(maxBytes + 1));
        throw e;
      }
      await deps.db.insert(blobs).values(info).onConflictDoNothing();
      await grantUpload(deps.db, caller, info);
      send(res, 201, info);
      return true;
    };

    if (url.pathname === '/blobs' && req.method === 'POST') return await store(undefined, caller);
    if (!m) {
      send(res, 404, { error: `no such blob route: ${req.method} ${url.pathname} (expected /blobs/sha256/<64 hex digits>)` });
      return true;
    }
    const ref = `sha256:${m[1]}`;
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (!(await mayRead(deps.db, caller, ref))) throw new BlobNotFoundError(ref);
      const { size } = await deps.blobs.stat(ref);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, etag: `"${ref}"`, 'cache-control': 'private, max-age=31536000, immutable' });
      if (req.method === 'HEAD') res.end();
      else (await deps.blobs.open(ref)).pipe(res);
      return true;
    }
    if (req.method === 'PUT') {
      // Bytes the caller already holds need not come again; anyone else sends them (and they are hashed).
      if ((await deps.blobs.has(ref)) && (await mayRead(deps.db, caller, ref))) {
        req.resume();
        const info = await deps.blobs.stat(ref);
        // A provider whose output is one of its inputs sent it all the same.
        await grantUpload(deps.db, caller, info);
        send(res, 200, info);
        return true;
      }
      return await store(ref, caller);
    }
    send(res, 405, { error: `${req.method} is not allowed on ${url.pathname}` });
  } catch (e) {
    if (e instanceof BlobAccessError) {
      res.setHeader('connection', 'close');
      res.once('finish', () => req.destroy());
      send(res, e.status, { error: e.message });
    } else if (e instanceof BlobNotFoundError) send(res, 404, { error: e.message });
    else if (e instanceof BlobHashMismatchError) send(res, 422, { error: e.message });
    else if (e instanceof BlobTooLargeError) tooLarge(res, req, blobLimit);
    else send(res, 500, { error: (e as Error).message });
  }
  return true;
}
