/**
 * Go programs the project needs and cannot download (the Temporal CLI, Temporal's server and
 * schema tool, the Temporal UI): built once from the Go module proxy with `go install` and
 * cached outside the work tree (CI clones afresh every time).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where built binaries are kept: ~/.cache/golemflow/bin. */
export const GO_BIN_CACHE = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'golemflow', 'bin');

export async function executable(p: string): Promise<boolean> {
  return fs.access(p, fs.constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * `go install pkg@version` into a scratch GOBIN, then the binary (`built`, the package's last
 * path element) moved to `target`; a target that exists is kept as it is.
 */
export async function goInstallCached(pkg: string, version: string, built: string, target: string): Promise<string> {
  if (await executable(target)) return target;
  await fs.mkdir(path.dirname(target), { recursive: true });
  const gobin = await fs.mkdtemp(path.join(path.dirname(target), 'build-'));
  try {
    await run('go', ['install', `${pkg}@${version}`], { env: { ...process.env, GOBIN: gobin }, maxBuffer: 64 * 1024 * 1024 });
    await fs.rename(path.join(gobin, built), target);
  } finally {
    await fs.rm(gobin, { recursive: true, force: true });
  }
  return target;
}
