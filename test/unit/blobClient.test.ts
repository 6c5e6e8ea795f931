/**
 * The provider's blob client against a node that restarts: a call is repeated while the node
 * cannot be reached (or answers 502-504), so finished work survives a requestor restart; any
 * other answer is final at once.
 */
import { createServer, type Server } from 'node:http';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobClient, refOfFile } from '../../blobs/client.js';
import { freePort } from '../support/scratch.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function serve(port: number, handle: (method: string, body: Buffer) => number): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(handle(req.method!, Buffer.concat(chunks)));
      res.end();
    });
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

describe('BlobClient against a node that restarts', () => {
  it('keeps uploading until the node answers, and sends the whole file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'blobclient-'));
    const file = path.join(dir, 'out.txt');
    await fs.writeFile(file, 'a result worth keeping\n');
    const ref = await refOfFile(file);
    const port = await freePort();
    const received: string[] = [];
    let unavailable = 1;
    // Down for 600 ms, then a 503 once (a proxy before the node), then the node itself.
    setTimeout(() => void serve(port, (method, body) => (unavailable-- > 0 ? 503 : (received.push(`${method} ${body}`), 201))), 600);
    const client = new BlobClient(`http://127.0.0.1:${port}`, 'Agreement a sig', 10_000);
    await client.uploadFile(file, ref);
    expect(received).toEqual(['PUT a result worth keeping\n']);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('takes any other refusal as final, and gives up on a node that stays away', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'blobclient-'));
    const file = path.join(dir, 'out.txt');
    await fs.writeFile(file, 'x');
    const ref = await refOfFile(file);
    const port = await freePort();
    let calls = 0;
    await serve(port, () => (calls++, 403));
    await expect(new BlobClient(`http://127.0.0.1:${port}`, undefined, 10_000).uploadFile(file, ref)).rejects.toThrow(/HTTP 403/);
    expect(calls).toBe(1);
    const closed = await freePort();
    const started = Date.now();
    await expect(new BlobClient(`http://127.0.0.1:${closed}`, undefined, 1_000).uploadFile(file, ref)).rejects.toThrow(/fetch failed/);
    expect(Date.now() - started).toBeLessThan(8_000);
    await fs.rm(dir, { recursive: true, force: true });
  });
});
