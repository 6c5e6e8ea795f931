/**
 * A provider's /metrics: the proposals it answered, the runs it served and how long they took
 * (and waited for a slot), its slots now; Temporal's SDK metrics come along (infra/metrics.ts).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { nodeRegistry } from '../infra/metrics.js';
import type { ProviderAgreements } from './providerAgreements.js';

/** What the provider's activities report as it happens. */
export interface ProviderMetricsHooks {
  proposal(decision: string): void;
  slotWait(seconds: number): void;
  run(outcome: string, wallSeconds: number | null): void;
}

export function providerMetrics(o: { provider: string; slots: number; agreements: ProviderAgreements }): { registry: Registry; hooks: ProviderMetricsHooks } {
  const registry = nodeRegistry({ provider: o.provider });
  const proposals = new Counter({ name: 'golemflow_provider_proposals_total', help: 'Proposals answered, by decision (accept, counter, reject)', labelNames: ['decision'], registers: [registry] });
  const runs = new Counter({
    name: 'golemflow_provider_runs_total',
    help: 'Runs served, by outcome (succeeded, or the failure type: the job\'s own, like ContainerFailed, or this node\'s)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const runSeconds = new Histogram({ name: 'golemflow_provider_run_seconds', help: 'Containers\' run time (wall seconds)', buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600], registers: [registry] });
  const slotWait = new Histogram({ name: 'golemflow_provider_slot_wait_seconds', help: 'How long a run waited behind busy slots before its container started', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 240], registers: [registry] });
  new Gauge({
    name: 'golemflow_provider_slots',
    help: 'Slots: offered, inUse (a container runs), queued (an agreement waits for one)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.set({ kind: 'offered' }, o.slots);
      this.set({ kind: 'inUse' }, o.agreements.runs);
      this.set({ kind: 'queued' }, o.agreements.queued);
    },
  });
  new Gauge({
    name: 'golemflow_provider_agreements',
    help: 'Agreements this provider approved and has not finished',
    registers: [registry],
    collect() {
      this.set(o.agreements.size);
    },
  });
  return {
    registry,
    hooks: {
      proposal: (decision) => proposals.inc({ decision }),
      slotWait: (seconds) => slotWait.observe(seconds),
      run: (outcome, wallSeconds) => {
        runs.inc({ outcome });
        if (wallSeconds !== null) runSeconds.observe(wallSeconds);
      },
    },
  };
}
