/** The capacity signal that wakes placements waiting for a slot: who is woken, and how far a slot is passed on. */
import { describe, expect, it } from 'vitest';
import { CapacitySignal } from '../../adapters/capacity.js';

describe('CapacitySignal', () => {
  it('wakes the longest waiter when a slot frees, and the others wait on', async () => {
    const c = new CapacitySignal();
    const first = c.wait(10_000);
    const second = c.wait(50);
    c.freed();
    expect(await first).toBe(1);
    expect(await second).toBeNull();
  });

  it('a slot the woken waiter cannot use goes to the next, at most once round', async () => {
    const c = new CapacitySignal();
    const a = c.wait(10_000);
    const b = c.wait(10_000);
    const d = c.wait(10_000);
    c.freed();
    const hops = await a;
    expect(hops).toBe(2);
    c.pass(hops);
    const hopsB = await b;
    expect(hopsB).toBe(1);
    // a waits again at the back; b passes on: d gets it with nothing left to pass.
    const again = c.wait(50);
    c.pass(hopsB);
    expect(await d).toBe(0);
    c.pass(0);
    expect(await again).toBeNull();
  });

  it('a waiter woken by its own timeout passes nothing', async () => {
    const c = new CapacitySignal();
    const late = await c.wait(10);
    const other = c.wait(50);
    c.pass(late);
    expect(await other).toBeNull();
  });
});
