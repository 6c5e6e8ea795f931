/**
 * The Docker engine: reuse a running one; otherwise, as root, install Debian's docker.io when
 * dockerd is missing (as .ci/run does) and start dockerd. Anyone else is told what to run.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { spawnDetached, waitFor } from './processes.js';

const run = promisify(execFile);

export async function ensureDocker(logFile: string, log: (m: string) => void = () => {}): Promise<Docker> {
  const docker = new Docker();
  if (await docker.ping().then(() => true, () => false)) return docker;
  const which = () => run('which', ['dockerd']).then((r) => r.stdout.trim(), () => '');
  let dockerd = await which();
  const root = process.getuid?.() === 0;
  if (!dockerd && !root) throw new Error('the Docker engine is not running and dockerd is not installed: install it (on Debian: sudo apt-get install -y docker.io), start it (sudo dockerd &) and run again');
  if (!dockerd) {
    log('installing the Docker engine (apt-get install docker.io; once, a minute or two)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
      await run('apt-get', ['install', '-y', '-qq', 'docker.io'], { env, maxBuffer: 64 * 1024 * 1024 });
    } catch (e) {
      throw new Error(`installing docker.io with apt-get failed: ${(e as Error).message.split('\n').slice(-3).join(' ')}; install it by hand (apt-get install -y docker.io) and run again`);
    }
    dockerd = await which();
    if (!dockerd) throw new Error('apt-get installed docker.io but dockerd is not on the PATH');
  }
  if (!root) throw new Error('the Docker engine is not running; start it (for example: sudo dockerd &) and run again');
  log('starting dockerd');
  await spawnDetached(dockerd, [], logFile);
  await waitFor(`dockerd (log: ${logFile})`, () => docker.ping().then(() => true), 60_000);
  return docker;
}
