/** The bench's reading of a subtask's way through Temporal's histories (bench/temporalWay.ts). */
import { describe, expect, it } from 'vitest';
import { childFor, wayOf } from '../../bench/temporalWay.js';

const at = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
const input = (o: object) => ({ payloads: [{ data: Buffer.from(JSON.stringify(o)) }] });

describe("a subtask's way through Temporal", () => {
  it('finds the workflow that ran a subtask: its own, or the batch whose range holds it', () => {
    const ids = ['job/subtasks-0-9', 'job/subtasks-10-19', 'job/subtask-20'];
    expect(childFor(ids, 0)).toBe('job/subtasks-0-9');
    expect(childFor(ids, 19)).toBe('job/subtasks-10-19');
    expect(childFor(ids, 20)).toBe('job/subtask-20');
    expect(childFor(ids, 21)).toBeUndefined();
  });

  it("reads when each step was asked for and taken up, for the subtask's own activities only", () => {
    const job = [
      { eventId: 1, eventTime: at(1000) },
      { eventId: 2, eventTime: at(1010), activityTaskScheduledEventAttributes: { activityType: { name: 'prepareJob' }, input: input({ jobId: 'job' }) } },
      { eventId: 3, eventTime: at(1020), activityTaskStartedEventAttributes: { scheduledEventId: 2 } },
      { eventId: 4, eventTime: at(1060), activityTaskCompletedEventAttributes: { scheduledEventId: 2 } },
      { eventId: 5, eventTime: at(1100), startChildWorkflowExecutionInitiatedEventAttributes: { workflowId: 'job/subtasks-0-1' } },
    ];
    const child = [
      { eventId: 1, eventTime: at(1150) },
      { eventId: 3, eventTime: at(1200), workflowTaskStartedEventAttributes: {} },
      { eventId: 4, eventTime: at(1250), workflowTaskCompletedEventAttributes: {} },
      // Subtask 0's proposal, then subtask 1's: only the one for the asked index counts.
      { eventId: 5, eventTime: at(1260), activityTaskScheduledEventAttributes: { activityType: { name: 'proposeAgreement' }, input: input({ jobId: 'job', index: 0 }) } },
      { eventId: 6, eventTime: at(1270), activityTaskScheduledEventAttributes: { activityType: { name: 'proposeAgreement' }, input: input({ jobId: 'job', index: 1 }) } },
      { eventId: 7, eventTime: at(1300), activityTaskStartedEventAttributes: { scheduledEventId: 6 } },
      { eventId: 8, eventTime: at(1310), activityTaskStartedEventAttributes: { scheduledEventId: 5 } },
      { eventId: 9, eventTime: at(1400), activityTaskCompletedEventAttributes: { scheduledEventId: 6 } },
      { eventId: 10, eventTime: at(1450), activityTaskCompletedEventAttributes: { scheduledEventId: 5 } },
      { eventId: 14, eventTime: at(1500), activityTaskScheduledEventAttributes: { activityType: { name: 'runSubtask' }, input: input({ jobId: 'job', index: 1 }) } },
      { eventId: 15, eventTime: at(1600), activityTaskStartedEventAttributes: { scheduledEventId: 14 } },
    ];
    // Plain numbers and strings where the protobuf types say Long: what the reader converts anyway.
    expect(wayOf(job as never, 'job/subtasks-0-1', child as never, 1)).toEqual({
      workflowId: 'job/subtasks-0-1',
      jobStarted: 1000,
      prepareScheduled: 1010,
      prepareStarted: 1020,
      prepareCompleted: 1060,
      childAsked: 1100,
      childStarted: 1150,
      firstTaskStarted: 1200,
      firstTaskCompleted: 1250,
      proposeScheduled: 1270,
      proposeStarted: 1300,
      proposeCompleted: 1400,
      runScheduled: 1500,
      runStarted: 1600,
      runCompleted: undefined,
    });
  });
});
