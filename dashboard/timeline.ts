/**
 * A job's timeline as SVG text: a lane per subtask from the job's submission, showing where the
 * time went: waiting for an offer or a slot (grey), negotiating (amber: proposed to decided),
 * running on a provider (a bar per attempt, green when accepted, red when rejected or failed,
 * blue while it runs). Pure: the dashboard hands it the job as the API gives it.
 */

export interface TimelineAttempt {
  number: number;
  providerId: string;
  status: string;
  verdict: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface TimelineAgreement {
  providerId: string;
  proposedAt: string;
  decidedAt: string | null;
}

export interface TimelineSubtask {
  index: number;
  agreements: TimelineAgreement[];
  attempts: TimelineAttempt[];
}

export interface TimelineJob {
  createdAt: string;
  finishedAt: string | null;
  subtasks: TimelineSubtask[];
}

export interface Bar {
  lane: number;
  /** Which of the lane's rows: concurrent copies of a subtask each get their own. */
  row: number;
  rows: number;
  kind: 'waiting' | 'negotiating' | 'running' | 'accepted' | 'rejected' | 'failed';
  from: number;
  to: number;
  label: string;
}

const ms = (t: string) => Date.parse(t);

/** The bars of each lane, in seconds since submission; `now` closes what is still open. */
export function timelineBars(job: TimelineJob, now: number): { bars: Bar[]; seconds: number } {
  const t0 = ms(job.createdAt);
  const end = job.finishedAt ? ms(job.finishedAt) : now;
  const s = (t: number) => Math.max(0, (t - t0) / 1000);
  const bars: Bar[] = [];
  job.subtasks.forEach((st, lane) => {
    // A row per attempt (its copies run side by side); a proposal sits on the row of the attempt it led to.
    const rows = Math.max(1, st.attempts.length);
    const firstProposal = Math.min(...st.agreements.map((a) => ms(a.proposedAt)), ...st.attempts.map((a) => ms(a.startedAt)));
    const waitEnd = Number.isFinite(firstProposal) ? firstProposal : end;
    if (waitEnd > t0) bars.push({ lane, row: 0, rows: 1, kind: 'waiting', from: 0, to: s(waitEnd), label: `subtask ${st.index}: waited ${(s(waitEnd)).toFixed(1)} s for an offer or a slot` });
    st.agreements.forEach((a, i) => {
      const decided = a.decidedAt ? ms(a.decidedAt) : end;
      const led = st.attempts.findIndex((t) => t.providerId === a.providerId && Math.abs(ms(t.startedAt) - decided) < 1000);
      const row = led >= 0 ? led : Math.min(i, rows - 1);
      bars.push({ lane, row, rows, kind: 'negotiating', from: s(ms(a.proposedAt)), to: s(decided), label: `subtask ${st.index}: proposed to ${a.providerId}, ${((decided - ms(a.proposedAt)) / 1000).toFixed(2)} s to decide` });
    });
    st.attempts.forEach((a, row) => {
      const to = a.finishedAt ? ms(a.finishedAt) : end;
      const kind: Bar['kind'] = a.verdict === 'accepted' ? 'accepted' : a.verdict === 'rejected' ? 'rejected' : a.status === 'failed' ? 'failed' : a.status === 'running' ? 'running' : 'accepted';
      bars.push({ lane, row, rows, kind, from: s(ms(a.startedAt)), to: s(to), label: `subtask ${st.index}, attempt ${a.number} on ${a.providerId}: ${a.verdict ?? a.status}, ${((to - ms(a.startedAt)) / 1000).toFixed(1)} s` });
    });
  });
  return { bars, seconds: Math.max(0.001, s(end)) };
}

const COLOURS: Record<Bar['kind'], string> = {
  waiting: '#c8ccd4',
  negotiating: '#f0b429',
  running: '#3b82f6',
  accepted: '#2f9e44',
  rejected: '#e03131',
  failed: '#a61e4d',
};

const escape = (t: string) => t.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The timeline as an SVG document: an axis in seconds since submission, a lane per subtask. */
export function timelineSvg(job: TimelineJob, now: number, width = 900): string {
  const { bars, seconds } = timelineBars(job, now);
  const lanes = Math.max(1, job.subtasks.length);
  const laneHeight = lanes > 60 ? 6 : 20;
  const left = 70;
  const top = 24;
  const height = top + lanes * laneHeight + 10;
  const x = (sec: number) => left + (sec / seconds) * (width - left - 10);
  const ticks = niceTicks(seconds);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="job timeline" font-family="sans-serif" font-size="11">`];
  for (const t of ticks) out.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${top - 4}" y2="${height - 8}" stroke="#eee"/><text x="${x(t)}" y="${top - 8}" text-anchor="middle" fill="#555">${t} s</text>`);
  if (laneHeight >= 12) job.subtasks.forEach((st, lane) => out.push(`<text x="4" y="${top + lane * laneHeight + laneHeight * 0.7}" fill="#333">#${st.index}</text>`));
  for (const b of bars) {
    const w = Math.max(1, x(b.to) - x(b.from));
    // The waiting bar spans the lane; attempts and their proposals share it row by row.
    const h = (laneHeight - 2) / b.rows;
    out.push(`<rect class="bar ${b.kind}" x="${x(b.from).toFixed(1)}" y="${(top + b.lane * laneHeight + 1 + b.row * h).toFixed(1)}" width="${w.toFixed(1)}" height="${Math.max(1, h - (b.rows > 1 ? 1 : 0)).toFixed(1)}" fill="${COLOURS[b.kind]}"><title>${escape(b.label)}</title></rect>`);
  }
  out.push('</svg>');
  return out.join('');
}

/** Round tick marks across 0..max seconds (about six of them). */
export function niceTicks(max: number): number[] {
  const raw = max / 6;
  const pow = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((v) => v >= raw) ?? 10 * pow;
  const ticks: number[] = [];
  for (let t = 0; t <= max + 1e-9; t += step) ticks.push(Number(t.toFixed(6)));
  return ticks;
}

export const TIMELINE_COLOURS = COLOURS;
