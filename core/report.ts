/**
 * A job's report, pure: a table per provider (subtasks, verdicts, time, GLM earned) and a
 * timeline picture (SVG: a lane per provider, a bar per attempt, coloured by verdict) that a
 * person would rather look at than read. Data in, text out; the CLI fetches and writes.
 */

export interface ReportAttempt {
  subtaskIndex: number;
  number: number;
  providerId: string;
  status: string;
  verdict: string | null;
  role: string;
  startedAt: string;
  finishedAt: string | null;
  wallSeconds: number | null;
}

export interface ReportInvoice {
  providerId: string;
  status: string;
  amount: string;
}

export interface ProviderLine {
  providerId: string;
  attempts: number;
  accepted: number;
  rejected: number;
  failed: number;
  busySeconds: number;
  earnedGlm: number;
  refusedGlm: number;
}

/** One line per provider, sorted by id. */
export function providerTable(attempts: ReportAttempt[], invoices: ReportInvoice[]): ProviderLine[] {
  const by = new Map<string, ProviderLine>();
  const line = (id: string) => {
    let l = by.get(id);
    if (!l) by.set(id, (l = { providerId: id, attempts: 0, accepted: 0, rejected: 0, failed: 0, busySeconds: 0, earnedGlm: 0, refusedGlm: 0 }));
    return l;
  };
  for (const a of attempts) {
    const l = line(a.providerId);
    l.attempts++;
    if (a.verdict === 'ACCEPTED') l.accepted++;
    else if (a.verdict === 'REJECTED') l.rejected++;
    else if (a.status === 'FAILED') l.failed++;
    l.busySeconds += a.wallSeconds ?? 0;
  }
  for (const i of invoices) {
    const l = line(i.providerId);
    if (i.status === 'PAID' || i.status === 'ACCEPTED') l.earnedGlm += Number(i.amount);
    else if (i.status === 'REJECTED') l.refusedGlm += Number(i.amount);
  }
  return [...by.values()].sort((a, b) => (a.providerId < b.providerId ? -1 : 1));
}

/** The table as aligned text. */
export function formatProviderTable(lines: ProviderLine[]): string {
  const head = ['provider', 'attempts', 'accepted', 'rejected', 'failed', 'busy s', 'GLM earned', 'GLM refused'];
  const rows = lines.map((l) => [l.providerId, l.attempts, l.accepted, l.rejected, l.failed, l.busySeconds.toFixed(1), l.earnedGlm.toFixed(6), l.refusedGlm.toFixed(6)].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(head), ...rows.map(fmt)].join('\n');
}

export const VERDICT_COLOURS: Record<string, string> = {
  accepted: '#2e9e5b',
  rejected: '#d6453d',
  failed: '#f0a030',
  cropCheck: '#4a7fd4',
  other: '#9a9a9a',
};

function colourOf(a: ReportAttempt): { colour: string; label: string } {
  if (a.role === 'CROP_CHECK') return { colour: a.verdict === 'REJECTED' ? VERDICT_COLOURS.rejected : VERDICT_COLOURS.cropCheck, label: 'crop check' };
  if (a.verdict === 'ACCEPTED') return { colour: VERDICT_COLOURS.accepted, label: 'accepted' };
  if (a.verdict === 'REJECTED') return { colour: VERDICT_COLOURS.rejected, label: 'rejected' };
  if (a.status === 'FAILED') return { colour: VERDICT_COLOURS.failed, label: 'failed' };
  return { colour: VERDICT_COLOURS.other, label: a.status.toLowerCase() };
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The timeline: one lane per provider, one bar per attempt (subtask number inside), a legend and a time axis. */
export function timelineSvg(title: string, attempts: ReportAttempt[]): string {
  const timed = attempts.filter((a) => a.startedAt);
  const t0 = Math.min(...timed.map((a) => Date.parse(a.startedAt)));
  const end = (a: ReportAttempt) => (a.finishedAt ? Date.parse(a.finishedAt) : Date.parse(a.startedAt) + (a.wallSeconds ?? 0) * 1000);
  const t1 = Math.max(...timed.map(end), t0 + 1000);
  const lanes = [...new Set(timed.map((a) => a.providerId))].sort();
  const left = 150;
  const width = 1000;
  const laneH = 34;
  const top = 50;
  const height = top + lanes.length * laneH + 60;
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (width - left - 20);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  lanes.forEach((p, i) => {
    const y = top + i * laneH;
    parts.push(`<rect x="0" y="${y}" width="${width}" height="${laneH}" fill="${i % 2 ? '#f6f6f6' : '#ffffff'}"/>`);
    parts.push(`<text x="10" y="${y + laneH / 2 + 4}">${escape(p)}</text>`);
  });
  for (const a of timed) {
    const lane = lanes.indexOf(a.providerId);
    const y = top + lane * laneH + 5;
    const x0 = x(Date.parse(a.startedAt));
    const w = Math.max(2, x(end(a)) - x0);
    const { colour, label } = colourOf(a);
    parts.push(
      `<g><title>subtask ${a.subtaskIndex}, attempt ${a.number}: ${escape(label)}${a.wallSeconds != null ? `, ${a.wallSeconds.toFixed(1)} s` : ''}</title>` +
        `<rect x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${laneH - 10}" rx="3" fill="${colour}"/>` +
        (w > 18 ? `<text x="${(x0 + 3).toFixed(1)}" y="${y + laneH / 2}" fill="#ffffff" font-size="10">${a.subtaskIndex}</text>` : '') +
        `</g>`,
    );
  }
  const axisY = top + lanes.length * laneH + 18;
  const span = (t1 - t0) / 1000;
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => span / s <= 10) ?? 1200;
  for (let s = 0; s <= span; s += step) parts.push(`<text x="${x(t0 + s * 1000).toFixed(1)}" y="${axisY}" text-anchor="middle" fill="#555">${s} s</text>`);
  let lx = left;
  for (const [label, colour] of [
    ['accepted', VERDICT_COLOURS.accepted],
    ['rejected (wrong)', VERDICT_COLOURS.rejected],
    ['failed', VERDICT_COLOURS.failed],
    ['crop check', VERDICT_COLOURS.cropCheck],
    ['other', VERDICT_COLOURS.other],
  ]) {
    parts.push(`<rect x="${lx}" y="${axisY + 14}" width="12" height="12" fill="${colour}"/><text x="${lx + 16}" y="${axisY + 24}">${label}</text>`);
    lx += 130;
  }
  parts.push('</svg>');
  return parts.join('\n');
}
