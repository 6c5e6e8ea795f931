/**
 * When each container was made, started and exited, as Docker itself saw it (its event stream),
 * and what that says about a provider's idle time: from one container's exit to the next one's
 * start on the same provider. The job's rows only know when a result was recorded, which is a
 * report's way through Temporal later; Docker's events know the exit itself.
 *
 * The next container on a provider is either made ahead (it reached the provider while the last
 * one ran, and waited for the slot: then the gap is the provider hearing of the exit and
 * Docker's start) or late (it reached the provider after the exit: the market's next placement
 * and its trip to the provider come first). The direct baseline's gap is its own remove, create
 * and start. Pure but for `watchContainers`.
 */
import type Docker from 'dockerode';

export type ContainerAction = 'create' | 'start' | 'die';

export interface ContainerEvent {
  /** Seconds (Docker's own clock, nanosecond precision). */
  at: number;
  action: ContainerAction;
  name: string;
  /** The container's labels (a provider's containers carry its id). */
  labels: Record<string, string>;
}

/** One container's life: absent steps were not seen. */
export interface ContainerLife {
  name: string;
  lane: string;
  created?: number;
  started?: number;
  died?: number;
}

export interface IdleGaps {
  /** Seconds from an exit to the next start on the same lane (a provider's slot, one at a time). */
  gaps: number[];
  /** Gaps before a container that was made while the last one ran. */
  ahead: number[];
  /** Gaps before a container made after the last one exited, and how long after the exit it was made. */
  late: Array<{ gap: number; madeAfter: number }>;
}

/** Records Docker's container events until `stop()`; returns them then. */
export async function watchContainers(docker: Docker): Promise<{ stop(): Promise<ContainerEvent[]> }> {
  const events: ContainerEvent[] = [];
  const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['create', 'start', 'die'] } })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) {
        const e = parseEvent(line);
        if (e) events.push(e);
      }
    }
  });
  return {
    async stop() {
      // Docker sends an event as it happens: a moment lets the last exit arrive.
      await new Promise((r) => setTimeout(r, 200));
      stream.destroy();
      return events;
    },
  };
}

/** One line of Docker's event stream (JSON), or null for any other kind of event. */
export function parseEvent(line: string): ContainerEvent | null {
  const e = JSON.parse(line) as { Type?: string; Action?: string; timeNano?: number; time?: number; Actor?: { Attributes?: Record<string, string> } };
  if (e.Type !== 'container' || !['create', 'start', 'die'].includes(e.Action ?? '')) return null;
  const attributes = e.Actor?.Attributes ?? {};
  const { name = '', ...labels } = attributes;
  const at = e.timeNano !== undefined ? e.timeNano / 1e9 : (e.time ?? 0);
  return { at, action: e.Action as ContainerAction, name, labels };
}

/** Containers' lives from their events; `laneOf` names a container's lane (null: not counted). */
export function lives(events: ContainerEvent[], laneOf: (e: ContainerEvent) => string | null): ContainerLife[] {
  const byName = new Map<string, ContainerLife>();
  for (const e of events) {
    const lane = laneOf(e);
    if (lane === null) continue;
    // A name is reused only by a retry of the same step, after the last one was removed: the later life counts.
    let life = byName.get(e.name);
    if (!life || (e.action === 'create' && life.created !== undefined)) {
      life = { name: e.name, lane };
      byName.set(e.name, life);
    }
    if (e.action === 'create') life.created = e.at;
    if (e.action === 'start') life.started = e.at;
    if (e.action === 'die') life.died = e.at;
  }
  return [...byName.values()];
}

/** The idle gaps on each lane: each start after the first, less the exit before it. */
export function idleGaps(all: ContainerLife[]): IdleGaps {
  const byLane = new Map<string, ContainerLife[]>();
  for (const l of all) if (l.started !== undefined && l.died !== undefined) byLane.set(l.lane, [...(byLane.get(l.lane) ?? []), l]);
  const out: IdleGaps = { gaps: [], ahead: [], late: [] };
  for (const runs of byLane.values()) {
    runs.sort((a, b) => a.started! - b.started!);
    for (let i = 1; i < runs.length; i++) {
      const gap = Math.max(0, runs[i].started! - runs[i - 1].died!);
      out.gaps.push(gap);
      const made = runs[i].created ?? runs[i].started!;
      if (made < runs[i - 1].died!) out.ahead.push(gap);
      else out.late.push({ gap, madeAfter: made - runs[i - 1].died! });
    }
  }
  return out;
}

/**
 * The gaps of a pool of `parallel` lanes that start a container whenever one ends (the direct
 * baseline: no lane names). Each exit frees the lane of the next container to start.
 */
export function poolGaps(all: ContainerLife[], parallel: number): number[] {
  const started = all.map((l) => l.started).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  const died = all.map((l) => l.died).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  return started.slice(parallel).map((s, i) => Math.max(0, s - died[i]));
}
