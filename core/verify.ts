/**
 * Result comparison by quorum, as BOINC does it: the same subtask runs on several providers;
 * a result is accepted when enough copies agree on it and no other result has as many votes.
 * Pure, deterministic and free of Node built-ins: workflows call it directly.
 */

/** A copy's result as compared: for exact comparison, its stdout and output blobs' names. */
export interface CopyResult {
  attempt: number;
  providerId: string;
  key: string;
}

export type Judgement =
  | { verdict: 'accepted'; key: string; agreeing: CopyResult[]; disagreeing: CopyResult[] }
  | { verdict: 'undecided'; votes: Record<string, number> };

/** The comparison key for exact comparison: equal keys mean byte-identical stdout and outputs. */
export function exactKey(r: { stdoutRef: string | null; outputs: Array<{ path: string; ref: string }> }): string {
  const outs = [...r.outputs].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((o) => `${o.path}=${o.ref}`);
  return [`stdout=${r.stdoutRef}`, ...outs].join('\n');
}

/** Votes a result needs: a majority of the redundancy asked for. */
export function quorumOf(redundancy: number): number {
  return Math.floor(redundancy / 2) + 1;
}

/** How many copies voted for each result. */
export function tally(results: CopyResult[]): Record<string, number> {
  const votes: Record<string, number> = {};
  for (const r of results) votes[r.key] = (votes[r.key] ?? 0) + 1;
  return votes;
}

/** Accepts the result with a quorum of votes and strictly more than any other result; else undecided. */
export function judge(results: CopyResult[], redundancy: number): Judgement {
  const votes = tally(results);
  const ordered = Object.entries(votes).sort((a, b) => b[1] - a[1]);
  const [top, second] = ordered;
  if (top && top[1] >= quorumOf(redundancy) && (!second || second[1] < top[1])) {
    return {
      verdict: 'accepted',
      key: top[0],
      agreeing: results.filter((r) => r.key === top[0]),
      disagreeing: results.filter((r) => r.key !== top[0]),
    };
  }
  return { verdict: 'undecided', votes };
}

/** Adaptive verification, as BOINC does it: trusted providers sometimes work alone, spot-checked at random. */
export interface AdaptivePolicy {
  /** Accepted results a provider needs before it may work alone. */
  trustAfter: number;
  minReputation: number;
  /** Share of a trusted provider's subtasks it runs alone. */
  soloRate: number;
  /** Share of those solo results re-run elsewhere and compared. */
  spotCheckRate: number;
}

/** `spotCheck`: the second copy is there only as a spot check (a crop check may stand in for it). */
export type VerificationPlan = { copies: number; reason: string; spotCheck?: boolean };

/** A draw in [0, 1) to three places, truncated: rounding would print 0.9996 as "1.000 < 1". */
export function formatDraw(draw: number): string {
  return (Math.floor(draw * 1000) / 1000).toFixed(3);
}

/**
 * How many copies a subtask needs, given who got its first copy and two draws in [0, 1) from
 * the job's recorded seed (so an audit can replay every decision).
 */
export function planVerification(
  redundancy: number,
  policy: AdaptivePolicy | null,
  first: { providerId: string; accepted: number; reputation: number },
  draws: { solo: number; spot: number },
): VerificationPlan {
  if (!policy || redundancy <= 1) return { copies: redundancy, reason: `redundancy ${redundancy}` };
  // Accepted results count by their age's decay, so exactly `trustAfter` fresh ones weigh a hair
  // less a moment later: count to the tenth the reason prints, so the decision and its reason agree.
  const accepted = Math.round(first.accepted * 10) / 10;
  const trusted = accepted >= policy.trustAfter && first.reputation >= policy.minReputation;
  if (!trusted)
    return {
      copies: redundancy,
      reason: `${first.providerId} not trusted yet (${accepted.toFixed(1)} accepted results, reputation ${first.reputation.toFixed(2)}): ${redundancy} copies`,
    };
  if (draws.solo >= policy.soloRate) return { copies: redundancy, reason: `${first.providerId} trusted, solo draw ${formatDraw(draws.solo)} >= ${policy.soloRate}: ${redundancy} copies` };
  if (draws.spot < policy.spotCheckRate)
    return { copies: 2, spotCheck: true, reason: `${first.providerId} trusted, alone (solo draw ${formatDraw(draws.solo)}), spot check (draw ${formatDraw(draws.spot)} < ${policy.spotCheckRate}): 2 copies` };
  return { copies: 1, reason: `${first.providerId} trusted, alone (solo draw ${formatDraw(draws.solo)} < ${policy.soloRate}; no spot check, draw ${formatDraw(draws.spot)})` };
}

export interface CropRect {
  x0: number;
  y0: number;
  /** Exclusive. */
  x1: number;
  y1: number;
}

/** Random crops of a frame for a spot check: `count` rectangles, each `size` of the frame's sides (at least 8 pixels). */
export function planCrops(width: number, height: number, count: number, size: number, rand: () => number): CropRect[] {
  const w = Math.min(width, Math.max(8, Math.round(width * size)));
  const h = Math.min(height, Math.max(8, Math.round(height * size)));
  const rects: CropRect[] = [];
  for (let k = 0; k < count; k++) {
    const x0 = Math.floor(rand() * (width - w + 1));
    const y0 = Math.floor(rand() * (height - h + 1));
    rects.push({ x0, y0, x1: x0 + w, y1: y0 + h });
  }
  return rects;
}

/** The {crops} argument of a crop check: "x0,y0,x1,y1 x0,y0,x1,y1". */
export function formatCrops(rects: CropRect[]): string {
  return rects.map((r) => `${r.x0},${r.y0},${r.x1},${r.y1}`).join(' ');
}
