/** The dashboard's timeline (pure): waiting and negotiation are drawn, not only runs. */
import { describe, expect, it } from 'vitest';
import { niceTicks, timelineBars, timelineSvg, type TimelineJob } from '../../dashboard/timeline.js';

const at = (s: number) => new Date(Date.parse('2026-11-27T10:00:00Z') + s * 1000).toISOString();

const job: TimelineJob = {
  createdAt: at(0),
  finishedAt: at(30),
  subtasks: [
    {
      index: 0,
      agreements: [{ providerId: 'p1', proposedAt: at(10), decidedAt: at(11) }],
      attempts: [{ number: 1, providerId: 'p1', status: 'succeeded', verdict: 'accepted', startedAt: at(11), finishedAt: at(20) }],
    },
    {
      index: 1,
      agreements: [
        { providerId: 'p2', proposedAt: at(2), decidedAt: at(3) },
        { providerId: 'p1', proposedAt: at(21), decidedAt: null },
      ],
      attempts: [
        { number: 1, providerId: 'p2', status: 'failed', verdict: null, startedAt: at(3), finishedAt: at(8) },
        { number: 2, providerId: 'p1', status: 'running', verdict: null, startedAt: at(22), finishedAt: null },
      ],
    },
  ],
};

describe('the job timeline', () => {
  it('shows the wait for a slot, each negotiation and each run, in seconds since submission', () => {
    const { bars, seconds } = timelineBars(job, Date.parse(at(99)));
    expect(seconds).toBe(30);
    expect(bars.filter((b) => b.lane === 0).map((b) => [b.kind, b.from, b.to])).toEqual([
      ['waiting', 0, 10],
      ['negotiating', 10, 11],
      ['accepted', 11, 20],
    ]);
    // A failed run, then a retry still running when the job's end closes it.
    expect(bars.filter((b) => b.lane === 1).map((b) => [b.kind, b.from, b.to])).toEqual([
      ['waiting', 0, 2],
      ['negotiating', 2, 3],
      ['negotiating', 21, 30],
      ['failed', 3, 8],
      ['running', 22, 30],
    ]);
    expect(bars[0].label).toBe('subtask 0: waited 10.0 s for an offer or a slot');
    // Two attempts: two rows, each proposal on the row of the attempt it led to.
    expect(bars.filter((b) => b.lane === 1).map((b) => [b.kind, b.row, b.rows])).toEqual([
      ['waiting', 0, 1],
      ['negotiating', 0, 2],
      ['negotiating', 1, 2],
      ['failed', 0, 2],
      ['running', 1, 2],
    ]);
  });

  it('draws an SVG with an axis and a bar per step, its text escaped', () => {
    const svg = timelineSvg({ ...job, subtasks: [{ ...job.subtasks[0], agreements: [{ providerId: 'p<1>', proposedAt: at(10), decidedAt: at(11) }] }] }, Date.parse(at(99)));
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect class="bar /g)).toHaveLength(3);
    expect(svg).toContain('proposed to p&lt;1&gt;');
    expect(svg).toContain('>30 s</text>');
    expect(niceTicks(30)).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(niceTicks(4.2)).toEqual([0, 1, 2, 3, 4]);
  });
});
