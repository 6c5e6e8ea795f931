/**
 * The Temporal UI for Temporal's own server (the CLI's dev server has one built in): the UI
 * server (github.com/temporalio/ui-server, its web app embedded) built once from the Go module
 * proxy and cached beside the CLI, started detached on the frontend's port + 1000, as the dev
 * server's UI is. v2.41.0 is the newest whose dependencies the proxy serves here.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { executable, GO_BIN_CACHE, goInstallCached } from './goBinaries.js';
import { portOpen, spawnDetached, waitFor } from './processes.js';

export const TEMPORAL_UI_VERSION = 'v2.41.0';
const MODULE = 'github.com/temporalio/ui-server/v2';

/** Builds (once) and returns the UI server. */
export async function ensureTemporalUiBinary(log: (m: string) => void = () => {}): Promise<string> {
  const target = path.join(GO_BIN_CACHE, `temporal-ui-server-${TEMPORAL_UI_VERSION}`);
  if (await executable(target)) return target;
  log(`building ${MODULE}/cmd/server@${TEMPORAL_UI_VERSION} from the Go module proxy (once; about two minutes)…`);
  return goInstallCached(`${MODULE}/cmd/server`, TEMPORAL_UI_VERSION, 'server', target);
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
