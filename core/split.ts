/**
 * Splitting a job into subtasks and filling each subtask's command. Pure: the same spec always
 * gives the same subtasks, so a retried split activity writes the same rows.
 */
import type { InputFile, JobSpec } from './jobSpec.js';

/** One unit of work: the argv to run and the files it gets under /in. */
export interface SubtaskPlan {
  index: number;
  /** The split parameters this subtask covers, e.g. `{ start: 0, end: 500000 }`. */
  params: Record<string, number | string>;
  command: string[];
  inputs: InputFile[];
}

/** How many subtasks a spec makes, without building them. */
export function countSubtasks(spec: JobSpec): number {
  const s = spec.split;
  if (s.kind === 'range') return Math.ceil((s.end - s.start) / s.step);
  if (s.kind === 'frames') return Math.ceil((s.last - s.first + 1) / s.framesPerSubtask);
  return s.inputs.length;
}

/** Fills `{name}` placeholders in each argument; unknown ones stay as they are (validation refuses them). */
export function fillCommand(command: string[], params: Record<string, number | string>): string[] {
  return command.map((arg) => arg.replace(/\{([a-z]+)\}/g, (all, key: string) => (key in params ? String(params[key]) : all)));
}

/** The plan of subtask `index` (0-based) of a spec. */
export function planSubtask(spec: JobSpec, index: number): SubtaskPlan {
  const s = spec.split;
  let params: Record<string, number | string>;
  let inputs = spec.inputs;
  if (s.kind === 'range') {
    const start = s.start + index * s.step;
    params = { index, start, end: Math.min(start + s.step, s.end) };
  } else if (s.kind === 'frames') {
    const start = s.first + index * s.framesPerSubtask;
    const end = Math.min(start + s.framesPerSubtask - 1, s.last);
    params = { index, start, end, frame: start, first: s.first, last: s.last };
  } else {
    const input = s.inputs[index];
    params = { index, input: `/in/${input.name}`, name: input.name, stem: input.name.replace(/\.[^.]*$/, '') || input.name };
    inputs = [...spec.inputs, input];
  }
  return { index, params, command: fillCommand(spec.command, params), inputs };
}

/** Every subtask of a spec, in order. */
export function splitJob(spec: JobSpec): SubtaskPlan[] {
  return Array.from({ length: countSubtasks(spec) }, (_, i) => planSubtask(spec, i));
}
