/** The Docker engine: reuse a running one, or start dockerd when it is installed and we are root. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { spawnDetached, waitFor } from './processes.js';

const run = promisify(execFile);

export async function ensureDocker(logFile: string, log: (m: string) => void = () => {}): Promise<Docker> {
  const docker = new Docker();
  if (await docker.ping().then(() => true, () => false)) return docker;
  const dockerd = await run('which', ['dockerd']).then((r) => r.stdout.trim(), () => '');
  if (!dockerd) throw new Error('the Docker engine is not running and dockerd is not installed: install it (on Debian: apt-get install -y docker.io) and start it');
  if (process.getuid?.() !== 0) throw new Error('the Docker engine is not running; start it (for example: sudo dockerd &) and run again');
  log('starting dockerd');
  await spawnDetached(dockerd, [], logFile);
  await waitFor(`dockerd (log: ${logFile})`, () => docker.ping().then(() => true), 60_000);
  return docker;
}
