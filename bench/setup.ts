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
import { ensureTemporalCluster, postgresOf } from '../infra/temporalCluster.js';
import { ensureAllRuntimes } from '../runtimes/build.js';
import type { ProviderOptions } from '../workers/provider.js';

export interface BenchStack {
  work: string;
  docker: Awaited<ReturnType<typeof ensureDocker>>;
  /** The server's address, and its pid when this run started it (the bench stops it). */
  temporal: { address: string; pid?: number };
  anvil: Anvil | null;
}

type Anvil = Awaited<ReturnType<typeof ensureAnvil>>;
interface BenchStackOptions {
  temporalPort: number;
  /**
   * dev: the Temporal CLI's dev server (SQLite, one connection: every write of every workflow
   * goes through it in turn); server: Temporal's own server on PostgreSQL (TEMPORAL_POSTGRES_URL),
   * in fresh databases of its own each run, as a cluster would run it.
   */
  temporal?: 'dev' | 'server';
  anvilPort?: number;
  log: (m: string) => void;
}

export async function benchStack(name: string, o: BenchStackOptions & { anvilPort: number }): Promise<BenchStack & { anvil: Anvil }>;
export async function benchStack(name: string, o: BenchStackOptions): Promise<BenchStack>;
export async function benchStack(name: string, o: BenchStackOptions): Promise<BenchStack> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), `golemflow-${name}-`));
  const docker = await ensureDocker(path.join(work, 'dockerd.log'), o.log);
  await ensureAllRuntimes(docker, { workDir: path.join(work, 'runtimes'), log: o.log });
  const temporal = o.temporal === 'server' ? await freshTemporalCluster(work, o) : await ensureTemporalServer({ port: o.temporalPort, logFile: path.join(work, 'temporal.log'), log: o.log });
  const anvil = o.anvilPort ? await ensureAnvil({ port: o.anvilPort, logFile: path.join(work, 'anvil.log'), log: o.log }) : null;
  return { work, docker, temporal, anvil };
}

/** Bench provider `i` (one slot, 512 MiB), the same whether it runs in the bench's process or the provider host's. */
export function benchProvider(i: number, o: { apiUrl: string; temporalAddress: string; workDir: string }): ProviderOptions {
  return { name: `bench-${i}`, cpus: 1, memory: '512m', apiUrl: o.apiUrl, temporalAddress: o.temporalAddress, buildRuntimes: false, workDir: path.join(o.workDir, `p${i}`) };
}

/** Temporal's own server on PostgreSQL, in databases made afresh for this run (a run's histories do not slow the next). */
async function freshTemporalCluster(work: string, o: BenchStackOptions): Promise<BenchStack['temporal']> {
  const url = process.env.TEMPORAL_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const databases = { persistence: `gf_bench_temporal_${o.temporalPort}`, visibility: `gf_bench_temporal_visibility_${o.temporalPort}` };
  const pg = await import('pg');
  const admin = new pg.default.Client({ connectionString: url });
  await admin.connect();
  try {
    for (const name of Object.values(databases)) await admin.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
  return ensureTemporalCluster({ port: o.temporalPort, dir: path.join(work, 'temporal-server'), postgres: postgresOf(url), databases, log: o.log });
}
