/**
 * The Docker engine: reuse a running one; otherwise, as root, install Debian's docker.io when
 * dockerd is missing (as .ci/run does) and start dockerd. Anyone else is told what to run.
 */
import Docker from 'dockerode';
import { ensurePackage, isRoot } from './apt.js';
import { spawnDetached, waitFor } from './processes.js';

export async function ensureDocker(logFile: string, log: (m: string) => void = () => {}): Promise<Docker> {
  const docker = new Docker();
  if (await docker.ping().then(() => true, () => false)) return docker;
  const dockerd = await ensurePackage('dockerd', 'docker.io', 'running containers (the Docker engine)', log);
  const root = isRoot();
  if (!root) throw new Error('the Docker engine is not running; start it (for example: sudo dockerd &) and run again');
  log('starting dockerd');
  await spawnDetached(dockerd, [], logFile);
  await waitFor(`dockerd (log: ${logFile})`, () => docker.ping().then(() => true), 60_000);
  return docker;
}
