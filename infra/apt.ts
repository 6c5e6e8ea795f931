/**
 * Debian packages the project needs on a fresh machine (the Docker engine, Chromium for the
 * browser tests): installed with apt-get when running as root; anyone else is told what to run.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The path of a command on the PATH, or '' when there is none. */
export function which(command: string): Promise<string> {
  return run('which', [command]).then((r) => r.stdout.trim(), () => '');
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Makes `command` available, installing the Debian package `pkg` when it is missing (as root).
 * `why` says what it is for, in the messages.
 */
export async function ensurePackage(command: string, pkg: string, why: string, log: (m: string) => void = () => {}): Promise<string> {
  const found = await which(command);
  if (found) return found;
  if (!isRoot()) throw new Error(`${why} needs ${command}, which is not installed: install it (on Debian: sudo apt-get install -y ${pkg}) and run again`);
  log(`installing ${pkg} for ${why} (apt-get install ${pkg}; once, a minute or two)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '-qq', pkg], { env, maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    throw new Error(`installing ${pkg} with apt-get failed: ${(e as Error).message.split('\n').slice(-3).join(' ')}; install it by hand (apt-get install -y ${pkg}) and run again`);
  }
  const installed = await which(command);
  if (!installed) throw new Error(`apt-get installed ${pkg} but ${command} is not on the PATH`);
  return installed;
}
