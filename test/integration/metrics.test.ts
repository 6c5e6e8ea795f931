/**
 * Prometheus metrics as an operator scrapes them: the requestor node's /metrics says what the
 * market holds (jobs, subtasks, attempts, agreements, slots) with Temporal's SDK metrics beside
 * them; a provider's says what it answered and ran.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';
import type { ProviderNode } from '../../workers/provider.js';

/** The value of the first sample of `name` carrying every one of `labels`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}

describe('metrics', () => {
  let market: TestMarket;
  let provider: ProviderNode;
  beforeAll(async () => {
    market = await startMarket([]);
    provider = await market.addProvider('counted', { metrics: { host: '127.0.0.1', port: 0 } });
  });
  afterAll(async () => {
    await market?.close();
  });

  it('the requestor node and the provider report the job that ran, and Temporal its workers', async () => {
    const id = await submit(market, { image: 'golemflow/compute:1', command: ['echo', '{start}'], split: { kind: 'range', start: 0, end: 2, step: 1 }, redundancy: 1 });
    expect((await waitForJob(market, id)).status).toBe('SUCCEEDED');

    const res = await fetch(`${market.apiUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(sample(text, 'golemflow_jobs', { status: 'succeeded' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'golemflow_subtasks', { status: 'succeeded' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'golemflow_attempts_finished_total', { status: 'succeeded' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'golemflow_attempt_run_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'golemflow_agreements', { state: 'terminated' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'golemflow_agreements', { state: 'approved' })).toBe(0);
    expect(sample(text, 'golemflow_slots', { kind: 'offered' })).toBe(1);
    expect(sample(text, 'golemflow_slots', { kind: 'inUse' })).toBe(0);
    expect(sample(text, 'golemflow_providers_online')).toBe(1);
    expect(sample(text, 'golemflow_process_resident_memory_bytes')).toBeGreaterThan(0);
    // Temporal's own: its workers polled and completed tasks in this process.
    expect(text).toMatch(/^temporal_\w+/m);

    expect(provider.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const own = await (await fetch(provider.metricsUrl!)).text();
    expect(sample(own, 'golemflow_provider_proposals_total', { decision: 'accept', provider: provider.id })).toBe(2);
    expect(sample(own, 'golemflow_provider_runs_total', { outcome: 'succeeded' })).toBe(2);
    expect(sample(own, 'golemflow_provider_run_seconds_count')).toBe(2);
    expect(sample(own, 'golemflow_provider_slots', { kind: 'offered' })).toBe(1);
    expect(sample(own, 'golemflow_provider_slots', { kind: 'inUse' })).toBe(0);
  });
});
