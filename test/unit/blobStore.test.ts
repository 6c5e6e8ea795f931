import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../blobs/store.js';
import { refOf } from '../../blobs/ref.js';
import { BlobHashMismatchError, BlobNotFoundError } from '../../core/failures.js';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'blobstore-'));
afterAll(() => fs.rm(root, { recursive: true, force: true }));

describe('blob store', () => {
  const store = new BlobStore(root);

  it('stores by content address and reads back', async () => {
    const info = await store.putBytes('hello');
    expect(info).toEqual({ ref: refOf('hello'), size: 5 });
    expect((await store.read(info.ref)).toString()).toBe('hello');
    expect(await store.put(Readable.from([Buffer.from('hel'), Buffer.from('lo')]))).toEqual(info);
  });

  it('refuses content that does not hash to the expected ref and keeps nothing', async () => {
    const expected = refOf('something else');
    await expect(store.put(Buffer.from('forged'), expected)).rejects.toBeInstanceOf(BlobHashMismatchError);
    expect(await store.has(expected)).toBe(false);
    expect(await store.has(refOf('forged'))).toBe(false);
    expect(await fs.readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it('says which blob is missing, and refuses what is not a ref', async () => {
    await expect(store.read(refOf('never stored'))).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.read('sha256:../../etc/passwd')).rejects.toThrow('not a blob reference');
  });
});
