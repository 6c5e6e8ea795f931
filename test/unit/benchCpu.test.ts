import { describe, expect, it } from 'vitest';
import { cpuByRole, formatCpu, parseStat, type CpuSnapshot } from '../../bench/cpu.js';

// A /proc/<pid>/stat line: pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17) ...
const stat = (pid: number, comm: string, utime: number, stime: number, cutime = 0, cstime = 0, started = 100, ppid = 1) =>
  `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} ${stime} ${cutime} ${cstime} 20 0 8 0 ${started} 0 0`;

const proc = (pid: number, comm: string, utime: number, stime: number, cutime = 0, cstime = 0, started = 100, ppid = 1) => {
  const s = parseStat(stat(pid, comm, utime, stime, cutime, cstime, started, ppid));
  const cmdline = comm;
  return [pid, { ...s, cmdline }] as const;
};

describe('bench CPU accounting', () => {
  it('reads own and reaped ticks, whatever the command name holds', () => {
    expect(parseStat(stat(7, 'node', 120, 30, 5, 6, 4242, 3))).toEqual({ comm: 'node', ppid: 3, startTime: 4242, ticks: 150, reapedTicks: 11 });
    expect(parseStat(stat(8, 'a (b) c', 1, 2, 3, 4))).toMatchObject({ comm: 'a (b) c', ticks: 3, reapedTicks: 7 });
  });

  it('sums each role between two snapshots, new processes from zero, init\'s reaped children as Docker', () => {
    const before: CpuSnapshot = new Map([
      proc(1, 'init', 10, 10, 1000, 500),
      proc(100, 'node', 500, 100),
      proc(200, 'temporal-v1.5.1', 300, 50),
      proc(300, 'dockerd', 100, 100),
      proc(400, 'postgres', 10, 10),
      proc(500, 'node', 5, 5),
      proc(600, 'kworker/u8:1-events_unbound', 50, 50, 0, 0, 7, 2),
    ]);
    const after: CpuSnapshot = new Map([
      proc(1, 'init', 10, 10, 1800, 700),
      proc(100, 'node', 900, 300),
      proc(200, 'temporal-v1.5.1', 500, 150),
      proc(300, 'dockerd', 250, 150),
      proc(400, 'postgres', 60, 10),
      proc(401, 'postgres', 30, 20),
      // Pid 500 now belongs to another program (it started later): it counts from zero.
      proc(500, 'containerd-shim', 40, 10, 0, 0, 900),
      // A kernel worker names the work it does now: the same thread all the same.
      proc(600, 'kworker/u8:1-flush-254:0', 150, 50, 0, 0, 7, 2),
    ]);
    const roles = cpuByRole(before, after, { 'requestor node': 100 });
    expect(Object.fromEntries(roles)).toEqual({ other: 0, 'requestor node': 6, Temporal: 3, Docker: 2 + 0.5 + 10, PostgreSQL: 1, kernel: 1 });
  });

  it('says how much of what the cores offered a phase used, largest role first', () => {
    const line = formatCpu(new Map([['Docker', 24.4], ['requestor node', 2.2], ['other', 0.01]]), 15.4, 2);
    expect(line).toBe('26.6 of 30.8 CPU-s (86%): Docker 24.4, requestor node 2.2');
  });
});
