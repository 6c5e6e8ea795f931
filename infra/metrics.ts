/**
 * Prometheus metrics (prom-client): a registry per node (a test process may hold a requestor
 * node and several providers), the process's own figures, and Temporal's SDK metrics, which the
 * runtime buffers (workers/temporalRuntime.ts) and this module turns into Prometheus metrics.
 */
import { createServer, type Server } from 'node:http';
import type { BufferedMetricUpdate } from '@temporalio/worker';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Temporal's metrics, once per process: shared by every node's /metrics. */
const temporalRegistry = new Registry();
type TemporalMetric = { kind: 'counter'; m: Counter } | { kind: 'gauge'; m: Gauge } | { kind: 'histogram'; m: Histogram };
const temporalMetrics = new Map<string, { metric: TemporalMetric; labels: string[] }>();
let drainTemporal: (() => void) | null = null;

const cleanName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, '_');

function apply(u: BufferedMetricUpdate): void {
  const name = cleanName(u.metric.name.startsWith('temporal_') ? u.metric.name : `temporal_${u.metric.name}`);
  let entry = temporalMetrics.get(name);
  if (!entry) {
    // Labels are those of the metric's first update; later ones are fitted to them.
    const labels = Object.keys(u.attributes).map(cleanName);
    const base = { name, help: u.metric.description || `Temporal SDK metric ${u.metric.name}${u.metric.unit ? ` (${u.metric.unit})` : ''}`, labelNames: labels, registers: [temporalRegistry] };
    const metric: TemporalMetric =
      u.metric.kind === 'histogram'
        ? { kind: 'histogram', m: new Histogram({ ...base, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] }) }
        : u.metric.kind === 'gauge'
          ? { kind: 'gauge', m: new Gauge(base) }
          : u.metric.kind === 'up-down-counter'
            ? { kind: 'gauge', m: new Gauge(base) }
            : { kind: 'counter', m: new Counter(base) };
    entry = { metric, labels };
    temporalMetrics.set(name, entry);
  }
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(u.attributes)) values[cleanName(k)] = String(v);
  const labels = Object.fromEntries(entry.labels.map((l) => [l, values[l] ?? '']));
  const { metric } = entry;
  if (metric.kind === 'counter') metric.m.inc(labels, u.value);
  else if (metric.kind === 'histogram') metric.m.observe(labels, u.value);
  else if (u.metric.kind === 'up-down-counter') metric.m.inc(labels, u.value);
  else metric.m.set(labels, u.value);
}

/**
 * Where Temporal's buffered metric updates come from (the runtime's buffer). It is drained every
 * few seconds whether or not anyone scrapes (a full buffer drops updates and logs errors).
 */
export function setTemporalMetricsSource(retrieve: () => Iterable<BufferedMetricUpdate>): void {
  drainTemporal = () => {
    for (const u of retrieve()) apply(u);
  };
  setInterval(() => drainTemporal?.(), 2_000).unref();
}

/** A node's own registry, with the process's figures (memory, CPU, event loop) under `golemflow_process_`. */
export function nodeRegistry(labels: Record<string, string>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, prefix: 'golemflow_' });
  return registry;
}

/** The text a scrape gets: the node's metrics, then Temporal's. */
export async function metricsText(registry: Registry): Promise<string> {
  drainTemporal?.();
  return `${await registry.metrics()}\n${await temporalRegistry.metrics()}`;
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** A small HTTP server with only GET /metrics (a provider has no other HTTP endpoint). */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metricsText(registry).then(
      (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
      (e) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return { url: `http://${host}:${bound}/metrics`, close: () => new Promise((r) => server.close(() => r())) };
}
