/** Group commit: what arrives while a batch is written goes in the next one, and one bad item fails only itself. */
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../infra/groupCommit.js';

describe('GroupCommit', () => {
  it('writes the first item at once and the items that arrive meanwhile together, in order', async () => {
    const batches: number[][] = [];
    const g = new GroupCommit<number, number>(async (items) => {
      batches.push(items);
      await new Promise((r) => setTimeout(r, 20));
      return items.map((i) => i * 10);
    });
    const results = await Promise.all([1, 2, 3, 4].map((i) => g.submit(i)));
    expect(results).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    expect(g.pending).toBe(0);
  });

  it('a batch that fails is written item by item: only the bad item is refused', async () => {
    const g = new GroupCommit<number, number>(async (items) => {
      await new Promise((r) => setTimeout(r, 5));
      if (items.includes(13)) throw new Error('thirteen is refused');
      return items;
    });
    const first = g.submit(1);
    const rest = [2, 13, 4].map((i) => g.submit(i).then((v) => ({ v }), (e: Error) => ({ error: e.message })));
    expect(await first).toBe(1);
    expect(await Promise.all(rest)).toEqual([{ v: 2 }, { error: 'thirteen is refused' }, { v: 4 }]);
  });

  it('caps a batch at maxBatch and says when it is idle', async () => {
    const sizes: number[] = [];
    let idle = 0;
    const g = new GroupCommit<number, void>(
      async (items) => {
        sizes.push(items.length);
        await new Promise((r) => setTimeout(r, 5));
        return items.map(() => undefined);
      },
      { maxBatch: 2, onIdle: () => idle++ },
    );
    await Promise.all([1, 2, 3, 4, 5, 6].map((i) => g.submit(i)));
    expect(sizes).toEqual([1, 2, 2, 1]);
    expect(idle).toBe(1);
  });
});
