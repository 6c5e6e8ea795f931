/** The capacity signal that wakes placements waiting for a slot: who is woken, who looks, and how far a slot is passed on. */
import { describe, expect, it } from 'vitest';
import { CapacitySignal } from '../../adapters/capacity.js';

describe('CapacitySignal', () => {
  it('wakes the longest waiter when a slot frees, and the others wait on', async () => {
    const c = new CapacitySignal(60_000);
    const first = c.wait(10_000);
    const second = c.wait(50);
    c.freed();
    expect(await first).toEqual({ freed: 1 });
    expect(await second).toBeNull();
    expect(c.waiting).toBe(0);
  });

  it('a slot the woken waiter cannot use goes to the next, at most once round', async () => {
    const c = new CapacitySignal(60_000);
    const a = c.wait(10_000);
    const b = c.wait(10_000);
    const d = c.wait(10_000);
    c.freed();
    const wakeA = await a;
    expect(wakeA).toEqual({ freed: 2 });
    c.after(wakeA, false);
    const wakeB = await b;
    expect(wakeB).toEqual({ freed: 1 });
    // a waits again at the back; b passes on: d gets it with nothing left to pass.
    const again = c.wait(50);
    c.after(wakeB, false);
    const wakeD = await d;
    expect(wakeD).toEqual({ freed: 0 });
    c.after(wakeD, false);
    expect(await again).toBeNull();
  });

  it('a waiter that took the slot passes nothing on', async () => {
    const c = new CapacitySignal(60_000);
    const a = c.wait(10_000);
    const b = c.wait(50);
    c.freed();
    c.after(await a, true);
    expect(await b).toBeNull();
  });

  it('only the longest waiter looks when the poll comes round; the others sleep on', async () => {
    const c = new CapacitySignal(20);
    const a = c.wait(10_000);
    const b = c.wait(10_000);
    expect(await a).toBe('look');
    // b has not been woken: it is now the longest waiter, and a found nothing.
    c.after('look', false);
    expect(c.waiting).toBe(1);
    expect(await b).toBe('look');
  });

  it('a look that found a slot has the next waiter look at once, until one finds nothing', async () => {
    const c = new CapacitySignal(60_000);
    const a = c.wait(10_000);
    const b = c.wait(10_000);
    const d = c.wait(200);
    c.after('look', true);
    expect(await a).toBe('look');
    c.after('look', true);
    expect(await b).toBe('look');
    c.after('look', false);
    expect(await d).toBeNull();
  });
});
