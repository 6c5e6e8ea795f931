/**
 * Runs one command in a hardened container through dockerode: no network, read-only root,
 * every capability dropped, no-new-privileges, a non-root user, pids/memory/CPU limits and a
 * wall-clock timeout. Files come in and go out through bind mounts (a read-only root refuses
 * archive uploads). stdout and stderr are streamed to files so that a chatty program cannot
 * fill the worker's memory.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import type Docker from 'dockerode';

export const LABEL_PREFIX = 'dev.golemflow';

export interface SandboxRequest {
  /** Container name; derived from the workflow step so a retried activity finds its own container. */
  name: string;
  image: string;
  command: string[];
  inputDir: string;
  outputDir: string;
  /** Where stdout and stderr files go (outside the container). */
  logDir: string;
  cpus: number;
  memoryBytes: number;
  pidsLimit?: number;
  tmpfsBytes?: number;
  timeoutMs: number;
  labels?: Record<string, string>;
  /** Called about once a second while the container runs (heartbeats). */
  onTick?: (elapsedMs: number) => void;
  /** Aborting kills the container. */
  signal?: AbortSignal;
  /**
   * Called once the container has stopped (before its removal and the caller's uploads): its
   * CPU and memory are free, so the provider's next run may start while this one is tidied up.
   */
  onExit?: () => void;
  /** Output bounds: passing one stops the container (the job's fault, not the provider's). */
  limits?: Partial<OutputLimits>;
  /** The image's VOLUME paths, when the caller inspected the image already (one Docker call less per run); absent: inspected here. */
  imageVolumes?: string[];
  /**
   * Awaited once the container is made, before it starts: the provider's turn for a slot. The
   * container is made while the run waits, so a freed slot costs only the start. A rejection
   * removes the container unstarted and is thrown as it is.
   */
  ready?: () => Promise<void>;
}

export interface OutputLimits {
  stdoutBytes: number;
  stderrBytes: number;
  /** Everything under /out together (and any one file, by the fsize ulimit). */
  outBytes: number;
  /** Open files at once (the nofile ulimit). */
  openFiles: number;
}

export const DEFAULT_OUTPUT_LIMITS: OutputLimits = {
  stdoutBytes: 64 * 1024 * 1024,
  stderrBytes: 16 * 1024 * 1024,
  outBytes: 1024 * 1024 * 1024,
  openFiles: 1024,
};

/** Bytes under a folder (files only; the walk stops counting once past `stop`). */
async function folderBytes(dir: string, stop = Infinity): Promise<number> {
  let total = 0;
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (total > stop) return;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += (await fs.stat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}

export interface SandboxResult {
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
  cancelled: boolean;
  stdoutFile: string;
  stderrFile: string;
  cpuSeconds: number;
  wallSeconds: number;
  /** Which output bound the container passed (it was stopped), or null. */
  outputLimit: string | null;
}

/**
 * Finds the file holding the container's cumulative CPU time in its cgroup (v1 or v2), while its
 * first process runs. The path must name the container: once the process is gone its pid may
 * point at another cgroup, even the root one, whose counter is the whole machine's.
 */
async function cgroupCpuFile(pid: number, containerId: string): Promise<{ file: string; scale: number } | undefined> {
  let lines: string[];
  try {
    lines = (await fs.readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n');
  } catch {
    return undefined;
  }
  for (const line of lines) {
    const [, controllers, p] = line.split(':');
    if (!p?.includes(containerId)) continue;
    if (controllers.split(',').includes('cpuacct')) {
      for (const dir of ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu']) {
        const file = `/sys/fs/cgroup/${dir}${p}/cpuacct.usage`;
        if (await fs.access(file).then(() => true, () => false)) return { file, scale: 1e-9 };
      }
    }
    if (controllers === '') {
      const file = `/sys/fs/cgroup${p}/cpu.stat`;
      if (await fs.access(file).then(() => true, () => false)) return { file, scale: 1e-6 };
    }
  }
  return undefined;
}

async function readCpuFile(f: { file: string; scale: number }): Promise<number | undefined> {
  const text = await fs.readFile(f.file, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const m = /usage_usec (\d+)/.exec(text);
  return Number(m ? m[1] : text.trim()) * f.scale;
}

/** The container's CPU time through the Docker API, for engines whose cgroups this process cannot read. */
async function statsCpuSeconds(container: Docker.Container): Promise<number | undefined> {
  try {
    const s = (await container.stats({ stream: false, 'one-shot': true } as { stream: false })) as { cpu_stats?: { cpu_usage?: { total_usage?: number } } };
    const ns = s.cpu_stats?.cpu_usage?.total_usage;
    return ns ? ns / 1e9 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Exact CPU accounting: each container gets a parent cgroup of its own (`/golemflow/<name>`).
 * Docker removes the container's cgroup when it exits, but the parent keeps the cumulative
 * usage of everything that ran below it, so it can be read after the exit and then removed.
 * Needs Docker's cgroupfs driver and a writable /sys/fs/cgroup (root); otherwise the
 * sandbox falls back to sampling the container's cgroup while it runs.
 */
const CGROUP_ROOT = '/sys/fs/cgroup';
const exactAccounting = new WeakMap<Docker, Promise<'v1' | 'v2' | undefined>>();

function accountingMode(docker: Docker): Promise<'v1' | 'v2' | undefined> {
  let mode = exactAccounting.get(docker);
  if (!mode) {
    mode = (async () => {
      if (process.getuid?.() !== 0) return undefined;
      const info = (await docker.info().catch(() => undefined)) as { CgroupDriver?: string } | undefined;
      if (info?.CgroupDriver !== 'cgroupfs') return undefined;
      const exists = (p: string) => fs.access(p).then(() => true, () => false);
      if (await exists(`${CGROUP_ROOT}/cpuacct/cpuacct.usage`)) return 'v1';
      if (await exists(`${CGROUP_ROOT}/cgroup.controllers`)) return 'v2';
      return undefined;
    })();
    exactAccounting.set(docker, mode);
  }
  return mode;
}

async function readParentCpuSeconds(mode: 'v1' | 'v2', parent: string): Promise<number | undefined> {
  if (mode === 'v1') {
    const v = await fs.readFile(`${CGROUP_ROOT}/cpuacct${parent}/cpuacct.usage`, 'utf8').catch(() => undefined);
    return v === undefined ? undefined : Number(v) / 1e9;
  }
  const v = await fs.readFile(`${CGROUP_ROOT}${parent}/cpu.stat`, 'utf8').catch(() => undefined);
  const m = v && /usage_usec (\d+)/.exec(v);
  return m ? Number(m[1]) / 1e6 : undefined;
}

/** Removes the per-container parent cgroup from every hierarchy it was made in. */
async function removeParentCgroup(parent: string): Promise<void> {
  const hierarchies = await fs.readdir(CGROUP_ROOT).catch(() => [] as string[]);
  await Promise.all(['', ...hierarchies.map((h) => `/${h}`)].map((h) => fs.rmdir(`${CGROUP_ROOT}${h}${parent}`).catch(() => undefined)));
}

/** Removes a container by name if it exists (a leftover of an earlier try of the same step). */
async function removeIfPresent(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getContainer(name).remove({ force: true });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
}

/** The VOLUME paths an image declares (none when it is not there: creating the container then says so). */
async function imageVolumes(docker: Docker, image: string): Promise<string[]> {
  const info = (await docker.getImage(image).inspect().catch(() => undefined)) as { Config?: { Volumes?: Record<string, unknown> | null } } | undefined;
  return Object.keys(info?.Config?.Volumes ?? {});
}

/** Runs the request to completion (exit, timeout or abort) and removes the container. */
export async function runInSandbox(docker: Docker, req: SandboxRequest): Promise<SandboxResult> {
  await fs.mkdir(req.logDir, { recursive: true });
  const stdoutFile = path.join(req.logDir, 'stdout');
  const stderrFile = path.join(req.logDir, 'stderr');
  const mode = await accountingMode(docker);
  const cgroupParent = mode ? `/golemflow/${req.name}` : undefined;
  const limits = { ...DEFAULT_OUTPUT_LIMITS, ...req.limits };
  const tmpfsSize = req.tmpfsBytes ?? 64 * 1024 * 1024;
  // An image's VOLUMEs would become writable volumes outside the read-only root that outlive
  // the container: each is covered by a size-limited tmpfs instead.
  const volumes = req.imageVolumes ?? (await imageVolumes(docker, req.image));
  const volumeTmpfs = Object.fromEntries(volumes.map((v) => [v, `rw,nosuid,nodev,size=${tmpfsSize},uid=65534,gid=65534`]));
  const options: Docker.ContainerCreateOptions = {
    name: req.name,
    Image: req.image,
    Cmd: req.command,
    User: '65534:65534',
    WorkingDir: '/work',
    Labels: { ...req.labels, [`${LABEL_PREFIX}.managed`]: 'true' },
    NetworkDisabled: true,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: req.pidsLimit ?? 128,
      Memory: req.memoryBytes,
      MemorySwap: req.memoryBytes,
      NanoCpus: Math.round(req.cpus * 1e9),
      Binds: [`${path.resolve(req.inputDir)}:/in:ro`, `${path.resolve(req.outputDir)}:/out:rw`],
      Tmpfs: {
        ...volumeTmpfs,
        '/tmp': `rw,nosuid,nodev,size=${tmpfsSize},uid=65534,gid=65534`,
        '/work': `rw,nosuid,nodev,size=${tmpfsSize},uid=65534,gid=65534`,
      },
      Ulimits: [
        { Name: 'nofile', Soft: limits.openFiles, Hard: limits.openFiles },
        { Name: 'fsize', Soft: limits.outBytes, Hard: limits.outBytes },
      ],
      // Docker's own copy of the output is bounded too (the stream below stops the container first).
      LogConfig: { Type: 'json-file', Config: { 'max-size': String(limits.stdoutBytes + limits.stderrBytes + 1024 * 1024), 'max-file': '1' } },
      AutoRemove: false,
      ...(cgroupParent ? { CgroupParent: cgroupParent } : {}),
    },
  };
  // A container of this name is a leftover of an earlier try of the same step: removed, then
  // made again (looked for only on a name conflict: one Docker call less per run).
  const container = await docker.createContainer(options).catch(async (e: { statusCode?: number }) => {
    if (e.statusCode !== 409) throw e;
    await removeIfPresent(docker, req.name);
    return docker.createContainer(options);
  });
  let timedOut = false;
  let cancelled = false;
  let outputLimit: string | null = null;
  let cpuSeconds = 0;
  const kill = async () => {
    await container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
  };
  const onAbort = () => {
    cancelled = true;
    void kill();
  };
  try {
    await req.ready?.();
    await container.start();
    const logStream = (await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
    const out = new PassThrough();
    const err = new PassThrough();
    docker.modem.demuxStream(logStream, out, err);
    logStream.on('end', () => {
      out.end();
      err.end();
    });
    const outFile = createWriteStream(stdoutFile);
    const errFile = createWriteStream(stderrFile);
    // Counted as it streams: a flood of output stops the container, and no more is written.
    const bounded = (name: string, max: number) => {
      let n = 0;
      return new Transform({
        transform(chunk: Buffer, _enc, cb) {
          n += chunk.length;
          if (n <= max) return cb(null, chunk);
          if (!outputLimit) {
            outputLimit = `wrote more than ${max} bytes to ${name}`;
            void kill();
          }
          cb();
        },
      });
    };
    out.pipe(bounded('stdout', limits.stdoutBytes)).pipe(outFile);
    err.pipe(bounded('stderr', limits.stderrBytes)).pipe(errFile);

    if (req.signal?.aborted) onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const started = Date.now();
    const timer = setTimeout(() => {
      timedOut = true;
      void kill();
    }, req.timeoutMs);
    const pid = cgroupParent ? 0 : (await container.inspect()).State.Pid;
    const cpuFile = pid ? await cgroupCpuFile(pid, container.id) : undefined;
    let lastTick = 0;
    // Without exact accounting, CPU time is sampled while the container runs (its cgroup goes
    // when it exits), so the figure can miss up to one interval of the end.
    const sampler = setInterval(async () => {
      if (!cgroupParent) {
        const v = cpuFile ? await readCpuFile(cpuFile) : await statsCpuSeconds(container);
        if (v !== undefined && v > cpuSeconds) cpuSeconds = v;
      }
      const now = Date.now();
      if (now - lastTick >= 1000) {
        lastTick = now;
        req.onTick?.(now - started);
        if (!outputLimit && (await folderBytes(req.outputDir, limits.outBytes)) > limits.outBytes) {
          outputLimit = `wrote more than ${limits.outBytes} bytes under /out`;
          void kill();
        }
      }
    }, 200);
    try {
      await container.wait();
    } finally {
      clearTimeout(timer);
      clearInterval(sampler);
      req.signal?.removeEventListener('abort', onAbort);
      req.onExit?.();
    }
    await Promise.all([finished(outFile), finished(errFile)]);
    if (cgroupParent) cpuSeconds = (await readParentCpuSeconds(mode!, cgroupParent)) ?? cpuSeconds;
    const info = await container.inspect();
    const wallSeconds = Math.max(0, (Date.parse(info.State.FinishedAt) - Date.parse(info.State.StartedAt)) / 1000);
    return {
      exitCode: info.State.ExitCode,
      oomKilled: info.State.OOMKilled,
      timedOut,
      cancelled,
      stdoutFile,
      stderrFile,
      cpuSeconds: Math.round(cpuSeconds * 1000) / 1000,
      wallSeconds,
      outputLimit: outputLimit ?? ((await folderBytes(req.outputDir, limits.outBytes)) > limits.outBytes ? `wrote more than ${limits.outBytes} bytes under /out` : null),
    };
  } finally {
    // v: anonymous volumes go with it, whatever the image declared.
    await container.remove({ force: true, v: true }).catch(() => undefined);
    if (cgroupParent) await removeParentCgroup(cgroupParent);
  }
}

/** Kills and removes every container carrying all of these labels (a provider's sweep of orphans). */
export async function removeLabelled(docker: Docker, labels: Record<string, string>): Promise<number> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) },
  });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  return list.length;
}
