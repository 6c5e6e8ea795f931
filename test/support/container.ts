/**
 * Runs one command in a runtime image directly, outside Golemflow (through the same hardened
 * sandbox), with the given files under /in; returns the exit code, stdout and the files it
 * wrote to /out. Tests use it to compute what Golemflow's result must equal.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { runInSandbox } from '../../adapters/sandbox.js';

export async function runDirectly(image: string, command: string[], files: Record<string, string | Buffer>): Promise<{ exitCode: number; stdout: string; outputs: Map<string, Buffer> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'golemflow-direct-'));
  try {
    await fs.mkdir(path.join(dir, 'in'));
    await fs.mkdir(path.join(dir, 'out'));
    await fs.chmod(dir, 0o755);
    await fs.chmod(path.join(dir, 'out'), 0o777);
    for (const [name, bytes] of Object.entries(files)) await fs.writeFile(path.join(dir, 'in', name), bytes);
    const res = await runInSandbox(new Docker(), {
      name: `golemflow-direct-${path.basename(dir)}`,
      image,
      command,
      inputDir: path.join(dir, 'in'),
      outputDir: path.join(dir, 'out'),
      logDir: path.join(dir, 'log'),
      cpus: 1,
      memoryBytes: 512 * 1024 * 1024,
      timeoutMs: 120_000,
    });
    const outputs = new Map<string, Buffer>();
    for (const f of await fs.readdir(path.join(dir, 'out'))) outputs.set(f, await fs.readFile(path.join(dir, 'out', f)));
    return { exitCode: res.exitCode, stdout: await fs.readFile(res.stdoutFile, 'utf8'), outputs };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
