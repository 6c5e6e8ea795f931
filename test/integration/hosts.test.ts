/**
 * Providers on other hosts: each provider process runs in a Linux network namespace of its own,
 * joined to the requestor's host by a veth pair on a bridge made for this test, so it reaches
 * the requestor's API, blob routes and Temporal only over the bridge's address (never loopback).
 * A job runs across them; cutting one provider's link mid-job fails its work over to the other;
 * restoring the link brings that provider back online. Needs root (as CI runs); the test makes
 * and removes every namespace, link and bridge itself.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startMarket, submit, suffix, waitForJob, type TestMarket } from '../support/harness.js';

const run = promisify(execFile);
const ip = (...args: string[]) => run('ip', args);
const id = suffix();
const bridge = `gfbr${id}`;
// A /24 of its own per run (10.199.x.0), so runs left behind by a crash do not collide.
const subnet = `10.199.${parseInt(id.slice(0, 2), 16)}`;
const hostAddress = `${subnet}.1`;
const hosts = [1, 2].map((n) => ({ ns: `gf${id}p${n}`, hostEnd: `gfh${id}${n}`, nsEnd: `gfp${id}${n}`, address: `${subnet}.${n + 1}`, name: `host${n}-${id}` }));

/** Forwards TCP from the bridge's address to a service that listens on loopback only (Temporal's dev server here). */
function forward(fromHost: string, to: { host: string; port: number }): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(to.port, to.host);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, fromHost, () => resolve(server));
  });
}

describe('providers on other hosts (network namespaces)', () => {
  let market: TestMarket;
  let temporalForward: net.Server;
  const providers: ChildProcess[] = [];

  beforeAll(async () => {
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('addr', 'add', `${hostAddress}/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    for (const h of hosts) {
      await ip('netns', 'add', h.ns);
      await ip('link', 'add', h.hostEnd, 'type', 'veth', 'peer', 'name', h.nsEnd);
      await ip('link', 'set', h.nsEnd, 'netns', h.ns);
      await ip('link', 'set', h.hostEnd, 'master', bridge);
      await ip('link', 'set', h.hostEnd, 'up');
      await ip('netns', 'exec', h.ns, 'ip', 'addr', 'add', `${h.address}/24`, 'dev', h.nsEnd);
      await ip('netns', 'exec', h.ns, 'ip', 'link', 'set', h.nsEnd, 'up');
      await ip('netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up');
    }
    // The API listens on the bridge's address only, and hands out that address.
    market = await startMarket([], { apiHost: hostAddress, livenessMs: 12_000 });
    const [tHost, tPort] = market.temporalAddress.split(':');
    temporalForward = await forward(hostAddress, { host: tHost, port: Number(tPort) });
    const temporalAddress = `${hostAddress}:${(temporalForward.address() as net.AddressInfo).port}`;
    for (const h of hosts) {
      const child = spawn(
        'ip',
        ['netns', 'exec', h.ns, process.execPath, '--import', 'tsx', path.resolve('workers/provider.ts'), '--name', h.name, '--cpus', '1', '--memory', '1g', '--api', market.apiUrl, '--temporal', temporalAddress, '--no-build-runtimes', '--no-benchmark'],
        { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } },
      );
      providers.push(child);
    }
    await vi.waitUntil(async () => (await market.gql('{ providers(filter: { onlineOnly: true }) { nodes { id } } }')).providers.nodes.length === hosts.length, { timeout: 90_000, interval: 500 });
  }, 180_000);

  afterAll(async () => {
    for (const p of providers) p.kill('SIGKILL');
    temporalForward?.close();
    await market?.close();
    for (const h of hosts) await ip('netns', 'del', h.ns).catch(() => undefined);
    await ip('link', 'del', bridge).catch(() => undefined);
  });

  it('the requestor hands out the address it was given, and a provider in a namespace cannot reach its loopback', async () => {
    expect(market.apiUrl).toMatch(new RegExp(`^http://${hostAddress.replace(/\./g, '\\.')}:\\d+$`));
    const { stdout } = await run('ip', ['netns', 'exec', hosts[0].ns, 'ip', '-4', 'addr', 'show']);
    expect(stdout).toContain(hosts[0].address);
    // Loopback inside the namespace is its own: the requestor is not there.
    const port = new URL(market.apiUrl).port;
    const loop = await run('ip', ['netns', 'exec', hosts[0].ns, process.execPath, '-e', `fetch('http://127.0.0.1:${port}/health').then(() => console.log('reached'), () => console.log('refused'))`]);
    expect(loop.stdout.trim()).toBe('refused');
    const bridged = await run('ip', ['netns', 'exec', hosts[0].ns, process.execPath, '-e', `fetch('${market.apiUrl}/health').then((r) => r.text()).then(console.log, () => console.log('refused'))`]);
    expect(bridged.stdout.trim()).toBe('ok');
  });

  it('runs a job across hosts; a host whose link is cut mid-job fails over, and comes back online when restored', async () => {
    const id = await submit(market, {
      image: 'golemflow/compute:1',
      command: ['sh', '-c', 'sleep 3; echo {start}'],
      split: { kind: 'range', start: 0, end: 6, step: 1 },
      merge: { kind: 'concat' },
      redundancy: 1,
      maxParallel: 2,
      retries: { maxAttempts: 3, heartbeatTimeoutSeconds: 3 },
    });
    const cut = hosts[0];
    // Once the first host runs something, its link goes down.
    await vi.waitUntil(
      async () => {
        const job = (await market.gql('query($id: ID!) { job(id: $id) { subtasks { nodes { attempts { providerId status } } } } }', { id })).job;
        return job.subtasks.nodes.some((s: any) => s.attempts.some((a: any) => a.providerId === cut.name && a.status === 'RUNNING'));
      },
      { timeout: 60_000, interval: 200 },
    );
    await ip('link', 'set', cut.hostEnd, 'down');
    const job = await waitForJob(market, id, 120_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.result.value.trim().split('\n')).toEqual(['0', '1', '2', '3', '4', '5']);
    const attempts = job.subtasks.flatMap((s: any) => s.attempts);
    // The cut host's running attempt was found silent, and its subtask finished on the other host.
    const lost = attempts.filter((a: any) => a.providerId === cut.name && a.status === 'FAILED');
    expect(lost.length).toBeGreaterThan(0);
    expect(lost[0].failureType).toBe('PROVIDER_SILENT');
    expect(attempts.filter((a: any) => a.providerId === hosts[1].name && a.status === 'SUCCEEDED').length).toBeGreaterThan(0);
    const online = async () => (await market.gql('query($id: ID!) { provider(id: $id) { online } }', { id: cut.name })).provider.online;
    await vi.waitUntil(async () => !(await online()), { timeout: 30_000, interval: 500 });

    await ip('link', 'set', cut.hostEnd, 'up');
    await vi.waitUntil(online, { timeout: 60_000, interval: 500 });
    // Back, it takes work again.
    const again = await waitForJob(market, await submit(market, { image: 'golemflow/compute:1', command: ['echo', 'back'], split: { kind: 'range', start: 0, end: 1, step: 1 }, redundancy: 1, demand: { allowedProviders: [cut.name] } }), 90_000);
    expect(again.status).toBe('SUCCEEDED');
  });
});
