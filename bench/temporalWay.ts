/**
 * One subtask's way through Temporal, read from the histories of its job's workflow and of the
 * workflow that ran it (its batch's, or its own): when each step was asked for and taken up.
 * The job's rows say when a proposal was stored and a result recorded; only the histories say
 * how long the work waited in Temporal's queues in between. Pure except `readWay`.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Milliseconds since 1970 of the events that mark each step; absent when the history has none. */
export interface TemporalWay {
  /** The workflow that ran the subtask. */
  workflowId: string;
  jobStarted?: number;
  /** Its prepareJob (the subtask rows written): scheduled, taken up, completed. */
  prepareScheduled?: number;
  prepareStarted?: number;
  prepareCompleted?: number;
  /** The job asked for the workflow, and it started. */
  childAsked?: number;
  childStarted?: number;
  /** Its first workflow task: taken up by the worker and completed. */
  firstTaskStarted?: number;
  firstTaskCompleted?: number;
  /** The subtask's first proposeAgreement: scheduled, taken up by a worker, completed. */
  proposeScheduled?: number;
  proposeStarted?: number;
  proposeCompleted?: number;
  /** Its first run: on the provider's queue, taken up by the provider, reported. */
  runScheduled?: number;
  runStarted?: number;
  runCompleted?: number;
}

export function eventMs(e: HistoryEvent): number | undefined {
  const t = e.eventTime;
  if (!t) return undefined;
  return Number(String(t.seconds ?? 0)) * 1000 + (t.nanos ?? 0) / 1e6;
}

/** Which child of the job ran subtask `index`: `…/subtask-<i>` or `…/subtasks-<first>-<last>`. */
export function childFor(workflowIds: string[], index: number): string | undefined {
  return workflowIds.find((id) => {
    const one = /\/subtask-(\d+)$/.exec(id);
    if (one) return Number(one[1]) === index;
    const batch = /\/subtasks-(\d+)-(\d+)$/.exec(id);
    return !!batch && Number(batch[1]) <= index && index <= Number(batch[2]);
  });
}

/** The first activity of `type` (whose input names subtask `index`, when given), and when it was started and completed. */
function activityOf(events: HistoryEvent[], type: string, index?: number): { scheduled?: number; started?: number; completed?: number } {
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type && (index === undefined || (firstInput(e) as { index?: number } | undefined)?.index === index));
  if (!scheduled) return {};
  const id = Number(String(scheduled.eventId));
  const started = events.find((e) => Number(String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? -1)) === id);
  const ended = events.find((e) => {
    const a = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    return Number(String(a?.scheduledEventId ?? -1)) === id;
  });
  return { scheduled: eventMs(scheduled), started: started && eventMs(started), completed: ended && eventMs(ended) };
}

/** The first payload of an activity's input, as JSON (the default data converter's encoding). */
export function firstInput(e: HistoryEvent): unknown {
  const data = e.activityTaskScheduledEventAttributes?.input?.payloads?.[0]?.data;
  if (!data) return undefined;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The way of subtask `index`, from the job's history and its workflow's. */
export function wayOf(jobEvents: HistoryEvent[], childId: string, childEvents: HistoryEvent[], index: number): TemporalWay {
  const asked = jobEvents.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === childId);
  const firstTaskStarted = childEvents.find((e) => e.workflowTaskStartedEventAttributes);
  const firstTaskCompleted = childEvents.find((e) => e.workflowTaskCompletedEventAttributes);
  const prepare = activityOf(jobEvents, 'prepareJob');
  const propose = activityOf(childEvents, 'proposeAgreement', index);
  const run = activityOf(childEvents, 'runSubtask', index);
  return {
    workflowId: childId,
    jobStarted: jobEvents[0] && eventMs(jobEvents[0]),
    prepareScheduled: prepare.scheduled,
    prepareStarted: prepare.started,
    prepareCompleted: prepare.completed,
    childAsked: asked && eventMs(asked),
    childStarted: childEvents[0] && eventMs(childEvents[0]),
    firstTaskStarted: firstTaskStarted && eventMs(firstTaskStarted),
    firstTaskCompleted: firstTaskCompleted && eventMs(firstTaskCompleted),
    proposeScheduled: propose.scheduled,
    proposeStarted: propose.started,
    proposeCompleted: propose.completed,
    runScheduled: run.scheduled,
    runStarted: run.started,
    runCompleted: run.completed,
  };
}

/** Reads the histories (the job's latest run) and returns the way of subtask `index`. */
export async function readWay(client: Client, jobWorkflowId: string, index: number): Promise<TemporalWay | null> {
  const jobEvents = (await client.workflow.getHandle(jobWorkflowId).fetchHistory()).events ?? [];
  const children = jobEvents.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId).filter((id): id is string => !!id);
  const childId = childFor(children, index);
  if (!childId) return null;
  const childEvents = (await client.workflow.getHandle(childId).fetchHistory()).events ?? [];
  return wayOf(jobEvents, childId, childEvents, index);
}
