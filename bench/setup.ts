/**
 * What every benchmark and trial starts with: a scratch folder, the Docker engine, the runtime
 * images, a Temporal dev server and (when asked) an Anvil chain, each reused when it already runs.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureAnvil } from '../infra/anvil.js';
import { ensureDocker } from '../infra/docker.js';
import { ensureTemporalServer } from '../infra/temporalServer.js';
import { ensureAllRuntimes } from '../runtimes/build.js';
import type { ProviderOptions } from '../workers/provider.js';

export interface BenchStack {
  work: string;
  docker: Awaited<ReturnType<typeof ensureDocker>>;
  temporal: Awaited<ReturnType<typeof ensureTemporalServer>>;
  anvil: Anvil | null;
}

type Anvil = Awaited<ReturnType<typeof ensureAnvil>>;
interface BenchStackOptions {
  temporalPort: number;
  anvilPort?: number;
  log: (m: string) => void;
}

export async function benchStack(name: string, o: BenchStackOptions & { anvilPort: number }): Promise<BenchStack & { anvil: Anvil }>;
export async function benchStack(name: string, o: BenchStackOptions): Promise<BenchStack>;
export async function benchStack(name: string, o: BenchStackOptions): Promise<BenchStack> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), `golemflow-${name}-`));
  const docker = await ensureDocker(path.join(work, 'dockerd.log'), o.log);
  await ensureAllRuntimes(docker, { workDir: path.join(work, 'runtimes'), log: o.log });
  const temporal = await ensureTemporalServer({ port: o.temporalPort, logFile: path.join(work, 'temporal.log'), log: o.log });
  const anvil = o.anvilPort ? await ensureAnvil({ port: o.anvilPort, logFile: path.join(work, 'anvil.log'), log: o.log }) : null;
  return { work, docker, temporal, anvil };
}

/** Bench provider `i` (one slot, 512 MiB), the same whether it runs in the bench's process or the provider host's. */
export function benchProvider(i: number, o: { apiUrl: string; temporalAddress: string; workDir: string }): ProviderOptions {
  return { name: `bench-${i}`, cpus: 1, memory: '512m', apiUrl: o.apiUrl, temporalAddress: o.temporalAddress, buildRuntimes: false, workDir: path.join(o.workDir, `p${i}`) };
}
