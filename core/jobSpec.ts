/**
 * The job spec: what a requestor submits. A JSON Schema describes it (served to users and
 * editors as is); ajv checks it, then a few rules that a schema cannot say (ranges that are
 * empty, placeholders that the split does not provide) are checked by hand. Pure: no I/O.
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { YAMLParseError, LineCounter, parseDocument } from 'yaml';
import { InvalidJobSpecError, type SpecProblem } from './failures.js';
import { parseSize } from './units.js';
import type { CompareSpec, ComparatorCommand, ImageTolerance } from './compare.js';
import type { AdaptivePolicy } from './verify.js';

export const BLOB_REF_PATTERN = '^sha256:[0-9a-f]{64}$';
export const MAX_SUBTASKS = 100_000;
export const PLACEHOLDERS = ['start', 'end', 'frame', 'first', 'last', 'input', 'name', 'stem', 'index'] as const;

/** Input file given to a subtask: mounted read-only at `/in/<name>`. */
export interface InputFile {
  name: string;
  ref: string;
}

export type SplitSpec =
  | { kind: 'range'; start: number; end: number; step: number }
  | { kind: 'frames'; first: number; last: number; framesPerSubtask: number }
  | { kind: 'inputs'; inputs: InputFile[] };

export type MergeKind = 'sum' | 'concat' | 'video' | 'archive' | 'none';

export interface JobSpec {
  name?: string;
  image: string;
  /** The image as a `docker save` archive, for images no registry serves: providers load it when they lack the image. */
  imageArchive?: { ref: string };
  command: string[];
  split: SplitSpec;
  inputs: InputFile[];
  resources: {
    cpus: number;
    memory: string;
    disk?: string;
    gpu: number;
    timeoutSeconds: number;
  };
  redundancy: number;
  verification: {
    compare: 'exact' | 'image' | 'command';
    /** For `compare: image`: how far two copies' PNG outputs may differ and still agree. */
    image: ImageTolerance;
    /** For `compare: command`: the user's comparator, run in a container. */
    comparator?: ComparatorCommand;
    /** Spot checks for renders: a few random crops of a lone result re-rendered elsewhere. */
    cropCheck?: CropCheckSpec;
    maxExtraRuns: number;
    adaptive?: AdaptivePolicy;
  };
  retries: { maxAttempts: number; heartbeatTimeoutSeconds: number };
  /**
   * video: every subtask's PNG outputs, in subtask and name order, to an MP4 and a GIF at `fps`;
   * archive: every subtask's output files into one outputs.tar.gz.
   */
  merge: { kind: MergeKind; fps?: number };
  maxParallel: number;
  budget?: { amount: string; token: string };
  demand: DemandSpec;
}

/**
 * A crop spot check, as Golem's old Blender verifier did: `command` re-renders only the
 * rectangles in {crops} ("x0,y0,x1,y1 …", pixels, end exclusive), writing `NAME.crop-K.png`
 * for each output `NAME.png` and rectangle K; those pixels are compared with the result's.
 */
export interface CropCheckSpec {
  command: string[];
  crops: number;
  /** Each crop's width and height as a share of the frame's. */
  size: number;
  /** Share of lone results (not compared with a full copy) that get a crop check. */
  rate: number;
}

/** What the requestor asks of the market (the defaults take the rest from `resources`). */
export interface DemandSpec {
  runtime: string;
  minCpus?: number;
  minMemory?: string;
  minDisk?: string;
  gpuModel?: string;
  maxPrice: { start?: number; cpuSecond?: number; envSecond?: number };
  minReputation: number;
  allowedProviders?: string[];
  blockedProviders: string[];
  preference: 'cheapest' | 'fastest' | 'reliable' | { weights: { price?: number; performance?: number; reputation?: number; uptime?: number } };
  /** How long a subtask waits for a matching offer before the job fails. */
  offerDeadlineSeconds: number;
  /** Expected wall seconds per subtask, for comparing prices. */
  estimateSeconds: number;
}

const inputFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'ref'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$', description: 'file name under /in' },
    ref: { type: 'string', pattern: BLOB_REF_PATTERN, description: 'content address: sha256:<64 hex>' },
  },
} as const;

/** JSON Schema (draft 2020-12 subset that ajv's default draft-07 mode reads) of a job spec. */
export const jobSpecJsonSchema = {
  $id: 'https://golemflow.dev/schema/job-spec.json',
  title: 'Golemflow job spec',
  type: 'object',
  additionalProperties: false,
  required: ['image', 'command', 'split'],
  properties: {
    name: { type: 'string', maxLength: 200 },
    image: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      pattern: '^[a-z0-9][a-z0-9._/:@-]*$',
      description: 'container image, e.g. golemflow/compute:1',
    },
    imageArchive: {
      type: 'object',
      additionalProperties: false,
      required: ['ref'],
      description: 'the image as a `docker save` archive (a blob): providers that lack the image load it',
      properties: { ref: { type: 'string', pattern: BLOB_REF_PATTERN, description: 'content address: sha256:<64 hex>' } },
    },
    command: {
      type: 'array',
      minItems: 1,
      maxItems: 256,
      items: { type: 'string', maxLength: 4096 },
      description:
        'argv; placeholders {start} {end} {frame} {first} {last} {input} {name} {stem} {index} are filled per subtask ({first} {last}: the whole animation\'s frames; {input}: /in/<name> of an inputs split, {stem}: <name> without its extension)',
    },
    split: {
      type: 'object',
      required: ['kind'],
      properties: { kind: { enum: ['range', 'frames', 'inputs'] } },
      oneOf: [
        {
          additionalProperties: false,
          required: ['kind', 'start', 'end', 'step'],
          properties: {
            kind: { const: 'range' },
            start: { type: 'integer' },
            end: { type: 'integer', description: 'exclusive' },
            step: { type: 'integer', minimum: 1 },
          },
        },
        {
          additionalProperties: false,
          required: ['kind', 'first', 'last'],
          properties: {
            kind: { const: 'frames' },
            first: { type: 'integer', minimum: 0 },
            last: { type: 'integer', minimum: 0, description: 'inclusive' },
            framesPerSubtask: { type: 'integer', minimum: 1, default: 1 },
          },
        },
        {
          additionalProperties: false,
          required: ['kind', 'inputs'],
          properties: {
            kind: { const: 'inputs' },
            inputs: { type: 'array', minItems: 1, items: inputFileSchema },
          },
        },
      ],
    },
    inputs: { type: 'array', items: inputFileSchema, default: [], description: 'files every subtask gets' },
    resources: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        cpus: { type: 'number', minimum: 0.01, maximum: 256, default: 1, description: 'at least 0.01 (Docker rounds less to no limit at all)' },
        memory: { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*([kKmMgGtT]i?[bB]?)?$', default: '256m' },
        disk: { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*([kKmMgGtT]i?[bB]?)?$' },
        gpu: { type: 'integer', minimum: 0, maximum: 16, default: 0 },
        timeoutSeconds: { type: 'integer', minimum: 1, maximum: 86400, default: 600 },
      },
    },
    redundancy: {
      type: 'integer',
      minimum: 1,
      maximum: 5,
      default: 2,
      description: 'copies of each subtask run on different providers and compared; a majority accepts a result',
    },
    verification: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        compare: {
          enum: ['exact', 'image', 'command'],
          default: 'exact',
          description:
            'exact: sha256 of stdout and every output file; image: PNG outputs within the `image` tolerance, other outputs exact, stdout ignored; command: the `comparator` decides',
        },
        image: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            pixelThreshold: { type: 'number', minimum: 0, maximum: 1, default: 0.1, description: 'per-pixel colour distance still counted equal (pixelmatch)' },
            maxDiffRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.001, description: 'largest share of differing pixels' },
            minPsnr: { type: ['number', 'null'], minimum: 0, default: 40, description: 'smallest PSNR in dB (null: not checked)' },
          },
        },
        comparator: {
          type: 'object',
          additionalProperties: false,
          required: ['image', 'command'],
          description: 'run with the two results under /in/a and /in/b (stdout in stdout, outputs by name); exit 0: same, 1: different',
          properties: {
            image: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[a-z0-9][a-z0-9._/:@-]*$' },
            command: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', maxLength: 4096 } },
            timeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 60 },
          },
        },
        cropCheck: {
          type: 'object',
          additionalProperties: false,
          required: ['command'],
          description: 'spot-check lone image results by re-rendering random crops elsewhere (used when a subtask runs one copy)',
          properties: {
            command: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', maxLength: 4096 }, description: 'like command, plus {crops}' },
            crops: { type: 'integer', minimum: 1, maximum: 16, default: 3 },
            size: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.1 },
            rate: { type: 'number', minimum: 0, maximum: 1, default: 1 },
          },
        },
        maxExtraRuns: { type: 'integer', minimum: 0, maximum: 5, default: 2, description: 'tie-breaking copies when copies disagree' },
        adaptive: {
          type: 'object',
          additionalProperties: false,
          description: 'let trusted providers work alone at a rate, spot-checked at random (off unless given)',
          properties: {
            trustAfter: { type: 'integer', minimum: 1, default: 10 },
            minReputation: { type: 'number', minimum: 0, maximum: 1, default: 0.9 },
            soloRate: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
            spotCheckRate: { type: 'number', minimum: 0, maximum: 1, default: 0.25 },
          },
        },
      },
    },
    retries: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxAttempts: { type: 'integer', minimum: 1, maximum: 20, default: 3 },
        heartbeatTimeoutSeconds: { type: 'integer', minimum: 2, maximum: 600, default: 10 },
      },
    },
    merge: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        kind: {
          enum: ['sum', 'concat', 'video', 'archive', 'none'],
          default: 'none',
          description: 'sum or concat stdout; video: the PNG outputs to video.mp4 and preview.gif; archive: every output file to outputs.tar.gz',
        },
        fps: { type: 'integer', minimum: 1, maximum: 120, description: 'frames per second of a video merge (default 12)' },
      },
    },
    maxParallel: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    demand: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'constraints and preference for choosing providers',
      properties: {
        runtime: { enum: ['docker'], default: 'docker' },
        minCpus: { type: 'number', exclusiveMinimum: 0, description: 'default: resources.cpus' },
        minMemory: { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*([kKmMgGtT]i?[bB]?)?$', description: 'default: resources.memory' },
        minDisk: { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*([kKmMgGtT]i?[bB]?)?$' },
        gpuModel: { type: 'string', minLength: 1 },
        maxPrice: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'highest price accepted for each pricing coefficient, in GLM',
          properties: {
            start: { type: 'number', minimum: 0 },
            cpuSecond: { type: 'number', minimum: 0 },
            envSecond: { type: 'number', minimum: 0 },
          },
        },
        minReputation: { type: 'number', minimum: 0, maximum: 1, default: 0 },
        allowedProviders: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
        blockedProviders: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
        preference: {
          default: 'cheapest',
          oneOf: [
            { enum: ['cheapest', 'fastest', 'reliable'] },
            {
              type: 'object',
              additionalProperties: false,
              required: ['weights'],
              properties: {
                weights: {
                  type: 'object',
                  additionalProperties: false,
                  minProperties: 1,
                  properties: {
                    price: { type: 'number', minimum: 0 },
                    performance: { type: 'number', minimum: 0 },
                    reputation: { type: 'number', minimum: 0 },
                    uptime: { type: 'number', minimum: 0 },
                  },
                },
              },
            },
          ],
        },
        offerDeadlineSeconds: { type: 'integer', minimum: 1, maximum: 86400, default: 300 },
        estimateSeconds: { type: 'number', exclusiveMinimum: 0, default: 60 },
      },
    },
    budget: {
      type: 'object',
      additionalProperties: false,
      required: ['amount'],
      properties: {
        amount: { type: 'string', pattern: '^\\d+(\\.\\d{1,18})?$', description: 'GLM, decimal, above 0: locked in the escrow when the job starts' },
        token: { type: 'string', default: 'GLM' },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
(addFormatsModule as unknown as (a: Ajv) => void)(ajv);
const validateSchema = ajv.compile(jobSpecJsonSchema);

function describe(e: ErrorObject): SpecProblem {
  const path = e.instancePath || '/';
  switch (e.keyword) {
    case 'required':
      return { path: `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`, message: 'is required' };
    case 'additionalProperties':
      return {
        path: `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`,
        message: 'is not a known field',
      };
    case 'enum':
      return { path, message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

/** ajv reports every branch of a oneOf; keep only the branch the user meant (its `kind`). */
function schemaProblems(input: unknown, errors: ErrorObject[]): SpecProblem[] {
  const kind = (input as { split?: { kind?: unknown } })?.split?.kind;
  const branch = ['range', 'frames', 'inputs'].indexOf(String(kind));
  const kept = errors.filter((e) => {
    if (e.keyword === 'oneOf') return false;
    const m = /^#\/properties\/split\/oneOf\/(\d+)\//.exec(e.schemaPath);
    if (!m) return true;
    if (branch < 0) return false; // the unknown kind is reported on its own
    if (e.keyword === 'const') return false;
    return Number(m[1]) === branch;
  });
  const seen = new Set<string>();
  return kept.map(describe).filter((p) => {
    const key = `${p.path} ${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Placeholders each split kind provides. */
const provided: Record<SplitSpec['kind'], readonly string[]> = {
  range: ['start', 'end', 'index'],
  frames: ['start', 'end', 'frame', 'first', 'last', 'index'],
  inputs: ['input', 'name', 'stem', 'index'],
};

function ruleProblems(spec: JobSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const s = spec.split;
  if (s.kind === 'range') {
    if (s.end <= s.start) problems.push({ path: '/split/end', message: `must be greater than start (${s.start})` });
    else if (Math.ceil((s.end - s.start) / s.step) > MAX_SUBTASKS)
      problems.push({ path: '/split/step', message: `makes more than ${MAX_SUBTASKS} subtasks; use a larger step` });
  } else if (s.kind === 'frames') {
    if (s.last < s.first) problems.push({ path: '/split/last', message: `must not be below first (${s.first})` });
    else if (Math.ceil((s.last - s.first + 1) / s.framesPerSubtask) > MAX_SUBTASKS)
      problems.push({ path: '/split/framesPerSubtask', message: `makes more than ${MAX_SUBTASKS} subtasks` });
  } else if (s.inputs.length > MAX_SUBTASKS) {
    problems.push({ path: '/split/inputs', message: `has more than ${MAX_SUBTASKS} entries` });
  }
  const checkPlaceholders = (command: string[], where: string, extra: string[]) =>
    command.forEach((arg, i) => {
      for (const m of arg.matchAll(/\{([a-z]+)\}/g)) {
        const known = [...PLACEHOLDERS, ...extra];
        if (!known.includes(m[1]))
          problems.push({ path: `${where}/${i}`, message: `unknown placeholder {${m[1]}}; known: ${known.map((p) => `{${p}}`).join(' ')}` });
        else if (!provided[s.kind].includes(m[1]) && !extra.includes(m[1]))
          problems.push({ path: `${where}/${i}`, message: `placeholder {${m[1]}} is not provided by a ${s.kind} split` });
      }
    });
  checkPlaceholders(spec.command, '/command', []);
  if (spec.verification.cropCheck) {
    checkPlaceholders(spec.verification.cropCheck.command, '/verification/cropCheck/command', ['crops']);
    if (!spec.verification.cropCheck.command.some((a) => a.includes('{crops}')))
      problems.push({ path: '/verification/cropCheck/command', message: 'must pass the rectangles with {crops}' });
  }
  if (spec.budget) {
    if (/^0+(\.0+)?$/.test(spec.budget.amount)) problems.push({ path: '/budget/amount', message: 'must be a positive amount of GLM' });
    if (spec.budget.token !== 'GLM') problems.push({ path: '/budget/token', message: `${JSON.stringify(spec.budget.token)} is not a known token (known: GLM)` });
  }
  const v = spec.verification;
  if (v.compare === 'command' && !v.comparator)
    problems.push({ path: '/verification/comparator', message: 'is required when compare is "command" (an image and a command)' });
  if (v.compare !== 'command' && v.comparator)
    problems.push({ path: '/verification/compare', message: 'must be "command" when a comparator is given' });
  const names = new Set<string>();
  spec.inputs.forEach((f, i) => {
    if (names.has(f.name)) problems.push({ path: `/inputs/${i}/name`, message: `duplicates the name ${JSON.stringify(f.name)}` });
    names.add(f.name);
  });
  // Each split input is mounted next to the common inputs, and its name is the outputs' {name}.
  if (s.kind === 'inputs') {
    const own = new Set<string>();
    s.inputs.forEach((f, i) => {
      if (names.has(f.name)) problems.push({ path: `/split/inputs/${i}/name`, message: `${JSON.stringify(f.name)} is also the name of a common input (/inputs)` });
      else if (own.has(f.name)) problems.push({ path: `/split/inputs/${i}/name`, message: `duplicates the name ${JSON.stringify(f.name)}` });
      own.add(f.name);
    });
  }
  if (spec.merge.fps !== undefined && spec.merge.kind !== 'video') problems.push({ path: '/merge/fps', message: `is for a video merge, not ${JSON.stringify(spec.merge.kind)}` });
  if (parseSize(spec.resources.memory)! < 6 * 1024 * 1024)
    problems.push({ path: '/resources/memory', message: 'must be at least 6m (Docker refuses less)' });
  if (parseSize(spec.resources.memory)! > 1024 ** 4) problems.push({ path: '/resources/memory', message: 'must be at most 1t' });
  return problems;
}

/** Checks a parsed job spec and fills its defaults; throws InvalidJobSpecError listing every problem. */
export function validateJobSpec(input: unknown): JobSpec {
  const dirty = uncleanText(input);
  if (dirty.length) throw new InvalidJobSpecError(dirty);
  const copy = structuredClone(input);
  if (!validateSchema(copy)) throw new InvalidJobSpecError(schemaProblems(copy, validateSchema.errors ?? []));
  const spec = copy as unknown as JobSpec;
  // ajv fills no defaults inside oneOf branches.
  if (spec.split.kind === 'frames') spec.split.framesPerSubtask ??= 1;
  const problems = ruleProblems(spec);
  if (problems.length) throw new InvalidJobSpecError(problems);
  return spec;
}

/**
 * Text that no container, log or database should be handed: control characters (but tab, line
 * feed and carriage return, which scripts use) and lone surrogates (not Unicode at all), in any
 * string or key of the spec. Each is named by its JSON pointer and position.
 */
export function uncleanText(value: unknown, at = '', out: SpecProblem[] = []): SpecProblem[] {
  const check = (text: string, where: string) => {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) {
        out.push({ path: where || '/', message: `holds the control character U+${c.toString(16).toUpperCase().padStart(4, '0')} at position ${i}` });
        return;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const pair = c <= 0xdbff && i + 1 < text.length && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff;
        if (!pair) {
          out.push({ path: where || '/', message: `is not valid Unicode: a lone surrogate U+${c.toString(16).toUpperCase()} at position ${i}` });
          return;
        }
        i++;
      }
    }
  };
  if (out.length >= 20) return out;
  if (typeof value === 'string') check(value, at);
  else if (Array.isArray(value)) value.forEach((v, i) => uncleanText(v, `${at}/${i}`, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      const where = `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      check(k, where);
      uncleanText(v, where, out);
    }
  return out;
}

/** A job spec's text, parsed but not yet checked, with what it takes to name a problem's line. */
export interface SpecDocument {
  data: unknown;
  /** The line (1-based) of the value at a JSON pointer, or of its nearest parent that has one. */
  lineOf(pointer: string): number | undefined;
}

/** Parses job spec text (JSON or YAML); a syntax error names the line. */
export function parseSpecDocument(text: string, source = 'job spec'): SpecDocument {
  const lineCounter = new LineCounter();
  try {
    const doc = parseDocument(text, { lineCounter, prettyErrors: true });
    if (doc.errors.length) throw doc.errors[0];
    return {
      data: doc.toJS(),
      lineOf(pointer) {
        const keys = pointer.split('/').filter(Boolean).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
        let node: unknown;
        for (let n = keys.length; n > 0 && !node; n--) node = doc.getIn(keys.slice(0, n), true);
        const range = (node as { range?: [number, number, number] } | undefined)?.range;
        return range ? lineCounter.linePos(range[0]).line : undefined;
      },
    };
  } catch (e) {
    const line = e instanceof YAMLParseError && e.linePos ? `:${e.linePos[0].line}` : '';
    throw new InvalidJobSpecError([{ path: `${source}${line}`, message: `cannot be parsed: ${(e as Error).message.split('\n')[0]}` }]);
  }
}

/**
 * Validates a parsed document's data (or `data`, made from it); each problem names its line as
 * `path (source:line)`. `origin` maps a problem's pointer in `data` back to the document's.
 */
export function validateSpecDocument(doc: SpecDocument, source: string, data: unknown = doc.data, origin: (pointer: string) => string = (p) => p): JobSpec {
  try {
    return validateJobSpec(data);
  } catch (e) {
    if (!(e instanceof InvalidJobSpecError)) throw e;
    throw new InvalidJobSpecError(
      e.problems.map((p) => {
        const line = doc.lineOf(origin(p.path));
        return { path: line ? `${p.path} (${source}:${line})` : p.path, message: p.message };
      }),
    );
  }
}

/** Parses job spec text (JSON or YAML) and validates it; problems name the line where the text has one. */
export function parseJobSpec(text: string, source = 'job spec'): JobSpec {
  return validateSpecDocument(parseSpecDocument(text, source), source);
}

/** The comparison a job's subtasks use, as the workflow receives it. */
export function compareSpecOf(spec: JobSpec): CompareSpec {
  const v = spec.verification;
  if (v.compare === 'image') return { kind: 'image', ...v.image };
  if (v.compare === 'command') return { kind: 'command', ...v.comparator! };
  return { kind: 'exact' };
}
