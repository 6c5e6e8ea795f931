import { describe, expect, it } from 'vitest';
import { idleGaps, lives, parseEvent, poolGaps, type ContainerEvent } from '../../bench/containerTimeline.js';

const ev = (at: number, action: ContainerEvent['action'], name: string, provider?: string): ContainerEvent => ({ at, action, name, labels: provider ? { 'dev.golemflow.provider': provider } : {} });
const byProvider = (e: ContainerEvent) => e.labels['dev.golemflow.provider'] ?? null;

describe("a provider's idle time from Docker's events", () => {
  it('reads a container event of the stream, and nothing else', () => {
    const line = JSON.stringify({ Type: 'container', Action: 'die', timeNano: 1_700_000_000_250_000_000, Actor: { ID: 'x', Attributes: { name: 'gf-p1-job-3-1', image: 'golemflow/compute:1', 'dev.golemflow.provider': 'p1' } } });
    const e = parseEvent(line)!;
    // Nanoseconds since 1970 are past a double's exact integers: microseconds survive, which is plenty.
    expect(e.at).toBeCloseTo(1_700_000_000.25, 5);
    expect({ ...e, at: 0 }).toEqual({ at: 0, action: 'die', name: 'gf-p1-job-3-1', labels: { image: 'golemflow/compute:1', 'dev.golemflow.provider': 'p1' } });
    expect(parseEvent(JSON.stringify({ Type: 'container', Action: 'destroy', time: 1 }))).toBeNull();
    expect(parseEvent(JSON.stringify({ Type: 'network', Action: 'connect', time: 1 }))).toBeNull();
  });

  it('measures each gap on its own provider, and tells a container made ahead from one made after the exit', () => {
    const events = [
      ev(0.0, 'create', 'a1', 'p1'),
      ev(0.1, 'start', 'a1', 'p1'),
      ev(0.5, 'create', 'a2', 'p1'), // made while a1 ran: waits for the slot
      ev(1.1, 'die', 'a1', 'p1'),
      ev(1.4, 'start', 'a2', 'p1'), // 0.3 s after a1's exit
      ev(2.4, 'die', 'a2', 'p1'),
      ev(3.0, 'create', 'a3', 'p1'), // made 0.6 s after a2's exit
      ev(3.5, 'start', 'a3', 'p1'),
      ev(4.5, 'die', 'a3', 'p1'),
      // Another provider's runs overlap in time but are not its neighbours.
      ev(1.0, 'create', 'b1', 'p2'),
      ev(1.2, 'start', 'b1', 'p2'),
      ev(2.0, 'die', 'b1', 'p2'),
      ev(2.1, 'start', 'b2', 'p2'),
      ev(3.0, 'die', 'b2', 'p2'),
      // Not a provider's (the direct run's): not counted.
      ev(1.0, 'start', 'direct-1'),
    ];
    const gaps = idleGaps(lives(events, byProvider));
    expect(gaps.gaps.map((g) => +g.toFixed(3)).sort()).toEqual([0.1, 0.3, 1.1]);
    expect(gaps.ahead.map((g) => +g.toFixed(3))).toEqual([0.3]);
    // b2's create was not seen: it counts as made when it started, after b1's exit.
    expect(gaps.late.map((l) => [+l.gap.toFixed(3), +l.madeAfter.toFixed(3)]).sort()).toEqual([
      [0.1, 0.1],
      [1.1, 0.6],
    ]);
  });

  it('counts a container that never started or never exited in no gap', () => {
    const events = [ev(0, 'start', 'a1', 'p1'), ev(1, 'die', 'a1', 'p1'), ev(1.2, 'create', 'a2', 'p1'), ev(2, 'start', 'a3', 'p1'), ev(3, 'die', 'a3', 'p1')];
    expect(idleGaps(lives(events, byProvider)).gaps).toEqual([1]);
  });

  it('in a pool of two lanes, each exit frees the next start', () => {
    const events = [ev(0, 'start', 'd1'), ev(0, 'start', 'd2'), ev(1, 'die', 'd1'), ev(1.4, 'start', 'd3'), ev(2, 'die', 'd2'), ev(2.5, 'start', 'd4'), ev(3, 'die', 'd3'), ev(4, 'die', 'd4')];
    expect(poolGaps(lives(events, () => 'direct'), 2).map((g) => +g.toFixed(3))).toEqual([0.4, 0.5]);
  });
});
