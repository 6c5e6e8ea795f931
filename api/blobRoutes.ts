/**
 * Blob endpoints, beside GraphQL on the same port so a provider needs only the API's address:
 *   GET|HEAD /blobs/sha256/<hex>   the blob's bytes
 *   PUT      /blobs/sha256/<hex>   store bytes that must hash to <hex> (else 422, nothing stored)
 *   POST     /blobs                store bytes, answer {ref, size}
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlobHashMismatchError, BlobNotFoundError, BlobTooLargeError } from '../core/failures.js';
import { blobs } from '../schema/tables.js';
import type { ApiDeps } from './deps.js';

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** 413, and the connection closed: the rest of an oversized body is not read. */
function tooLarge(res: ServerResponse, req: IncomingMessage, maxBytes: number): true {
  res.setHeader('connection', 'close');
  res.once('finish', () => req.destroy());
  send(res, 413, { error: `blob is above the limit of ${maxBytes} bytes (MAX_BLOB_BYTES)` });
  return true;
}

/** Handles the request when it is a blob route; answers false when it is not one. */
export async function handleBlobRoute(deps: ApiDeps, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://local');
  if (!url.pathname.startsWith('/blobs')) return false;
  const m = /^\/blobs\/sha256\/([0-9a-f]{64})$/.exec(url.pathname);
  const maxBytes = deps.config.limits.blobBytes;
  try {
    if (url.pathname === '/blobs' && req.method === 'POST') {
      if (Number(req.headers['content-length'] ?? 0) > maxBytes) return tooLarge(res, req, maxBytes);
      const info = await deps.blobs.put(req, undefined, { maxBytes });
      await deps.db.insert(blobs).values(info).onConflictDoNothing();
      send(res, 201, info);
      return true;
    }
    if (!m) {
      send(res, 404, { error: `no such blob route: ${req.method} ${url.pathname} (expected /blobs/sha256/<64 hex digits>)` });
      return true;
    }
    const ref = `sha256:${m[1]}`;
    if (req.method === 'GET' || req.method === 'HEAD') {
      const { size } = await deps.blobs.stat(ref);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, etag: `"${ref}"`, 'cache-control': 'public, max-age=31536000, immutable' });
      if (req.method === 'HEAD') res.end();
      else (await deps.blobs.open(ref)).pipe(res);
      return true;
    }
    if (req.method === 'PUT') {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > maxBytes) return tooLarge(res, req, maxBytes);
      if (await deps.blobs.has(ref)) {
        req.resume();
        send(res, 200, await deps.blobs.stat(ref));
        return true;
      }
      const info = await deps.blobs.put(req, ref, { maxBytes });
      await deps.db.insert(blobs).values(info).onConflictDoNothing();
      send(res, 201, info);
      return true;
    }
    send(res, 405, { error: `${req.method} is not allowed on ${url.pathname}` });
  } catch (e) {
    if (e instanceof BlobNotFoundError) send(res, 404, { error: e.message });
    else if (e instanceof BlobHashMismatchError) send(res, 422, { error: e.message });
    else if (e instanceof BlobTooLargeError) tooLarge(res, req, maxBytes);
    else send(res, 500, { error: (e as Error).message });
  }
  return true;
}
