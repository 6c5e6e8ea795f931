/**
 * The Temporal UI for Temporal's own server (the CLI's dev server has one built in): the UI
 * server (github.com/temporalio/ui-server, its web app embedded) built once from the Go module
 * proxy and cached beside the CLI, started detached on the frontend's port + 1000, as the dev
 * server's UI is. v2.41.0 is the newest whose dependencies the proxy serves here.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { portOpen, spawnDetached, waitFor } from './processes.js';

const run = promisify(execFile);
export const TEMPORAL_UI_VERSION = 'v2.41.0';
const MODULE = 'github.com/temporalio/ui-server/v2';
const cacheDir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'golemflow', 'bin');

/** Builds (once) and returns the UI server. */
export async function ensureTemporalUiBinary(log: (m: string) => void = () => {}): Promise<string> {
  const target = path.join(cacheDir, `temporal-ui-server-${TEMPORAL_UI_VERSION}`);
  if (await fs.access(target, fs.constants.X_OK).then(() => true, () => false)) return target;
  log(`building ${MODULE}/cmd/server@${TEMPORAL_UI_VERSION} from the Go module proxy (once; about two minutes)…`);
  await fs.mkdir(cacheDir, { recursive: true });
  const gobin = await fs.mkdtemp(path.join(cacheDir, 'build-'));
  await run('go', ['install', `${MODULE}/cmd/server@${TEMPORAL_UI_VERSION}`], { env: { ...process.env, GOBIN: gobin }, maxBuffer: 64 * 1024 * 1024 });
  await fs.rename(path.join(gobin, 'server'), target);
  await fs.rm(gobin, { recursive: true, force: true });
  return target;
}

/** Reuses a UI on `uiPort` or starts one for the frontend at `address` (detached). */
export async function ensureTemporalUi(o: { address: string; uiPort: number; dir: string; log?: (m: string) => void }): Promise<{ url: string; started: boolean; pid?: number }> {
  const url = `http://127.0.0.1:${o.uiPort}`;
  if (await portOpen('127.0.0.1', o.uiPort)) return { url, started: false };
  const server = await ensureTemporalUiBinary(o.log);
  // The UI server reads base.yaml, then <env>.yaml, from its config folder.
  await fs.mkdir(path.join(o.dir, 'config'), { recursive: true });
  const settings = [`temporalGrpcAddress: ${o.address}`, `port: ${o.uiPort}`, 'enableUi: true', 'defaultNamespace: default', 'notifyOnNewVersion: false', 'cors:', '  cookieInsecure: true', ''].join('\n');
  await fs.writeFile(path.join(o.dir, 'config', 'base.yaml'), settings);
  await fs.writeFile(path.join(o.dir, 'config', 'golemflow.yaml'), settings);
  o.log?.(`starting the Temporal UI on ${url} for ${o.address}`);
  const pid = await spawnDetached(server, ['--root', o.dir, '--config', 'config', '--env', 'golemflow', 'start'], path.join(o.dir, 'temporal-ui.log'));
  await waitFor(`the Temporal UI on ${url} (log: ${path.join(o.dir, 'temporal-ui.log')})`, () => portOpen('127.0.0.1', o.uiPort), 60_000);
  return { url, started: true, pid };
}
