/**
 * Where a bench's CPU goes: every process's CPU time from /proc, read before and after a phase
 * and summed by role (the requestor node, the Temporal server, the provider host, Docker,
 * PostgreSQL). Two cores give a phase at most twice its wall time: a phase that used nearly all
 * of it was bound by CPU, and the split says which parts of the stack took it. Linux only.
 *
 * Containers' own processes (runc, the shims, what ran inside) have exited by the time a phase
 * ends; the kernel adds an exited process's time to the parent that reaped it. Docker's shims
 * are reparented to init, so init's reaped-children time is counted as Docker's. Kernel threads
 * (writeback of what containers and databases wrote, cgroup teardown) are the kernel's.
 */
import fs from 'node:fs/promises';

/** One process as /proc shows it: CPU ticks (its own, and its reaped children's), and its name. */
export interface ProcessCpu {
  ppid: number;
  /** When it started (ticks since boot): a pid with another start time is another process. */
  startTime: number;
  ticks: number;
  reapedTicks: number;
  comm: string;
  cmdline: string;
}

export type CpuSnapshot = Map<number, ProcessCpu>;

/** The roles a bench knows by pid (itself, the provider host, the Temporal server it started). */
export type KnownPids = Record<string, number | undefined>;

/** Parses /proc/<pid>/stat: utime, stime (own) and cutime, cstime (reaped children), in ticks. */
export function parseStat(stat: string): Omit<ProcessCpu, 'cmdline'> {
  // The command name is in parentheses and may itself hold spaces or parentheses.
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17, starttime 22.
  const n = (field: number) => Number(fields[field - 3]);
  return { comm: stat.slice(open + 1, close), ppid: n(4), startTime: n(22), ticks: n(14) + n(15), reapedTicks: n(16) + n(17) };
}

/** Every process's CPU now. Processes that end while it reads are skipped. */
export async function snapshot(): Promise<CpuSnapshot> {
  const out: CpuSnapshot = new Map();
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseStat(await fs.readFile(`/proc/${name}/stat`, 'utf8'));
      const cmdline = (await fs.readFile(`/proc/${name}/cmdline`, 'utf8')).replace(/\0/g, ' ').trim();
      out.set(Number(name), { ...stat, cmdline });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** The role a process plays in the bench, by pid first, then by name. */
export function roleOf(pid: number, p: ProcessCpu, known: KnownPids): string {
  for (const [role, knownPid] of Object.entries(known)) if (knownPid === pid) return role;
  // Kernel threads (kthreadd's children): writeback of what containers and databases wrote, cgroup teardown, the network.
  if (pid === 2 || p.ppid === 2) return 'kernel';
  if (/^(dockerd|containerd|containerd-shim|runc)/.test(p.comm)) return 'Docker';
  if (p.comm === 'postgres') return 'PostgreSQL';
  if (/temporal/.test(p.comm) || /\btemporal\S*\s+server\b/.test(p.cmdline)) return 'Temporal';
  return 'other';
}

/**
 * CPU seconds each role used between two snapshots. Processes that started in between count
 * from zero; init's reaped-children time is Docker's (the shims, runc and the containers).
 */
export function cpuByRole(before: CpuSnapshot, after: CpuSnapshot, known: KnownPids, ticksPerSecond = 100): Map<string, number> {
  const roles = new Map<string, number>();
  const add = (role: string, ticks: number) => roles.set(role, (roles.get(role) ?? 0) + ticks / ticksPerSecond);
  for (const [pid, p] of after) {
    const was = before.get(pid);
    // A pid reused by another process in between is a new process.
    const same = was && was.startTime === p.startTime ? was : undefined;
    add(roleOf(pid, p, known), Math.max(0, p.ticks - (same?.ticks ?? 0)));
    if (pid === 1) add('Docker', Math.max(0, p.reapedTicks - (same?.reapedTicks ?? 0)));
  }
  return roles;
}

/** One line: the phase's CPU against what the cores offered, then each role, largest first. */
export function formatCpu(roles: Map<string, number>, wallSeconds: number, cores: number): string {
  const total = [...roles.values()].reduce((a, b) => a + b, 0);
  const offered = wallSeconds * cores;
  const parts = [...roles.entries()]
    .filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([role, s]) => `${role} ${s.toFixed(1)}`);
  return `${total.toFixed(1)} of ${offered.toFixed(1)} CPU-s (${Math.round((100 * total) / offered)}%): ${parts.join(', ')}`;
}
