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
