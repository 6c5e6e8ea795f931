import { describe, expect, it } from 'vitest';
import { InvalidJobSpecError } from '../../core/failures.js';
import { compareSpecOf, jobSpecJsonSchema, parseJobSpec, validateJobSpec } from '../../core/jobSpec.js';

const base = { image: 'golemflow/compute:1', command: ['primes', '{start}', '{end}'], split: { kind: 'range', start: 0, end: 100, step: 10 } };

function problems(input: unknown) {
  try {
    validateJobSpec(input);
  } catch (e) {
    if (e instanceof InvalidJobSpecError) return e.problems;
    throw e;
  }
  throw new Error('expected the spec to be refused');
}

describe('job spec validation', () => {
  it('fills defaults for a minimal spec', () => {
    const spec = validateJobSpec(base);
    expect(spec.resources).toEqual({ cpus: 1, memory: '256m', gpu: 0, timeoutSeconds: 600 });
    expect(spec.retries).toEqual({ maxAttempts: 3, heartbeatTimeoutSeconds: 10 });
    expect(spec.redundancy).toBe(2);
    expect(spec.verification).toEqual({ compare: 'exact', image: { pixelThreshold: 0.1, maxDiffRatio: 0.001, minPsnr: 40 }, maxExtraRuns: 2 });
    expect(spec.merge).toEqual({ kind: 'none' });
    expect(spec.maxParallel).toBe(50);
    expect(spec.inputs).toEqual([]);
  });

  it('does not change the caller’s object', () => {
    const input = structuredClone(base);
    validateJobSpec(input);
    expect(input).toEqual(base);
  });

  it('names every missing or unknown field', () => {
    expect(problems({ colour: 'red' })).toEqual(
      expect.arrayContaining([
        { path: '/image', message: 'is required' },
        { path: '/command', message: 'is required' },
        { path: '/split', message: 'is required' },
        { path: '/colour', message: 'is not a known field' },
      ]),
    );
  });

  it('reports only the branch of the split the user chose', () => {
    const p = problems({ ...base, split: { kind: 'frames', first: 1 } });
    expect(p).toEqual([{ path: '/split/last', message: 'is required' }]);
    expect(problems({ ...base, split: { kind: 'tiles' } })).toEqual([{ path: '/split/kind', message: 'must be one of "range", "frames", "inputs"' }]);
  });

  it('refuses empty ranges, too many subtasks and placeholders the split lacks', () => {
    expect(problems({ ...base, split: { kind: 'range', start: 5, end: 5, step: 1 } })).toEqual([{ path: '/split/end', message: 'must be greater than start (5)' }]);
    expect(problems({ ...base, split: { kind: 'range', start: 0, end: 1e9, step: 1 } })[0].path).toBe('/split/step');
    expect(problems({ ...base, command: ['render', '{frame}'] })).toEqual([{ path: '/command/1', message: 'placeholder {frame} is not provided by a range split' }]);
    expect(problems({ ...base, command: ['x', '{colour}'] })[0].message).toContain('unknown placeholder {colour}');
  });

  it('checks resources, redundancy, budget and inputs', () => {
    const p = problems({
      ...base,
      resources: { cpus: 0, memory: 'lots', timeoutSeconds: 0 },
      redundancy: 9,
      budget: { amount: '-1' },
      inputs: [{ name: '../etc/passwd', ref: 'sha256:xyz' }],
    });
    expect(p.map((x) => x.path).sort()).toEqual(
      ['/budget/amount', '/inputs/0/name', '/inputs/0/ref', '/redundancy', '/resources/cpus', '/resources/memory', '/resources/timeoutSeconds'].sort(),
    );
    expect(problems({ ...base, resources: { memory: '1m' } })).toEqual([{ path: '/resources/memory', message: 'must be at least 6m (Docker refuses less)' }]);
  });

  it('parses YAML and points at the line of each problem', () => {
    const text = ['image: golemflow/compute:1', 'command: [primes, "{start}", "{end}"]', 'split:', '  kind: range', '  start: 0', '  end: 100', '  step: 0', ''].join('\n');
    try {
      parseJobSpec(text, 'job.yaml');
      expect.unreachable();
    } catch (e) {
      expect((e as InvalidJobSpecError).problems).toEqual([{ path: '/split/step (job.yaml:7)', message: 'must be >= 1' }]);
    }
    expect(() => parseJobSpec('image: [unclosed', 'job.yaml')).toThrow(/job.yaml:\d+: cannot be parsed/);
    expect(parseJobSpec(JSON.stringify(base)).image).toBe('golemflow/compute:1');
  });
});

describe('comparison settings', () => {
  const base = { image: 'golemflow/compute:1', command: ['true'], split: { kind: 'range', start: 0, end: 1, step: 1 } };
  it('needs a comparator for compare: command, and refuses one otherwise', () => {
    expect(() => validateJobSpec({ ...base, verification: { compare: 'command' } })).toThrow(/\/verification\/comparator: is required when compare is "command"/);
    expect(() => validateJobSpec({ ...base, verification: { comparator: { image: 'x', command: ['y'] } } })).toThrow(/\/verification\/compare: must be "command"/);
    expect(() => validateJobSpec({ ...base, verification: { compare: 'image', image: { maxDiffRatio: 2 } } })).toThrow(/\/verification\/image\/maxDiffRatio: must be <= 1/);
  });
  it('hands the workflow the comparison it asked for, with defaults', () => {
    expect(compareSpecOf(validateJobSpec({ ...base, verification: { compare: 'image', image: { minPsnr: null } } }))).toEqual({ kind: 'image', pixelThreshold: 0.1, maxDiffRatio: 0.001, minPsnr: null });
    expect(compareSpecOf(validateJobSpec({ ...base, verification: { compare: 'command', comparator: { image: 'c:1', command: ['cmp'] } } }))).toEqual({ kind: 'command', image: 'c:1', command: ['cmp'], timeoutSeconds: 60 });
  });
});

describe('frames split', () => {
  it('renders one frame per subtask unless told otherwise', () => {
    const spec = validateJobSpec({ image: 'golemflow/render:1', command: ['render', '{start}', '{end}', '{first}', '{last}'], split: { kind: 'frames', first: 0, last: 4 } });
    expect(spec.split).toEqual({ kind: 'frames', first: 0, last: 4, framesPerSubtask: 1 });
  });
});

describe('budgets', () => {
  const base = { image: 'golemflow/compute:1', command: ['true'], split: { kind: 'range', start: 0, end: 1, step: 1 } };
  it('takes a positive decimal amount of GLM, and nothing else', () => {
    expect(validateJobSpec({ ...base, budget: { amount: '2.5' } }).budget).toEqual({ amount: '2.5', token: 'GLM' });
    expect(() => validateJobSpec({ ...base, budget: { amount: '0.000' } })).toThrow(/\/budget\/amount: must be a positive amount of GLM/);
    expect(() => validateJobSpec({ ...base, budget: { amount: '-1' } })).toThrow(/\/budget\/amount/);
    expect(() => validateJobSpec({ ...base, budget: { amount: '1', token: 'ETH' } })).toThrow(/\/budget\/token: "ETH" is not a known token/);
  });

  it('serves the schema its type comes from: fields with a default are optional to users, and ajv fills them', () => {
    expect(jobSpecJsonSchema.required).toEqual(['image', 'command', 'split']);
    const resources = (jobSpecJsonSchema.properties as Record<string, { required?: string[]; properties: Record<string, unknown> }>).resources;
    expect(resources.required).toBeUndefined();
    expect(Object.keys(resources.properties)).toEqual(['cpus', 'memory', 'disk', 'gpu', 'timeoutSeconds']);
    // Plain JSON: nothing of TypeBox's own leaks to users.
    expect(JSON.parse(JSON.stringify(jobSpecJsonSchema))).toEqual(jobSpecJsonSchema);
    const spec = validateJobSpec(base);
    expect(spec.resources).toEqual({ cpus: 1, memory: '256m', gpu: 0, timeoutSeconds: 600 });
    expect(spec.demand.preference).toBe('cheapest');
  });
});
