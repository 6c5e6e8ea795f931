/**
 * The job spec: what a requestor submits. One TypeBox definition gives both its TypeScript type
 * and its JSON Schema (served to users and editors); ajv checks it, then a few rules that a
 * schema cannot say (ranges that are empty, placeholders that the split does not provide) are
 * checked by hand. Pure: no I/O.
 */
import { Type, type SchemaOptions, type Static, type TSchema, type TUnion } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { YAMLParseError, LineCounter, parseDocument } from 'yaml';
import { InvalidJobSpecError, type SpecProblem } from './failures.js';
import { parseSize } from './units.js';
import type { CompareSpec } from './compare.js';
import { GLM_AMOUNT_PATTERN, glmAmountProblem } from './glm.js';

export const BLOB_REF_PATTERN = '^sha256:[0-9a-f]{64}$';
export const MAX_SUBTASKS = 100_000;
export const PLACEHOLDERS = ['start', 'end', 'frame', 'first', 'last', 'input', 'name', 'stem', 'index'] as const;

const SIZE_PATTERN = '^\\d+(\\.\\d+)?\\s*([kKmMgGtT]i?[bB]?)?$';
const IMAGE_PATTERN = '^[a-z0-9][a-z0-9._/:@-]*$';

/** A string from a fixed list, as JSON Schema's `enum` (so a wrong value names every allowed one). */
function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ ...options, enum: values });
}

/** Exactly one of `schemas`, as JSON Schema's `oneOf`; its type is their union. */
function OneOf<T extends TSchema[]>(schemas: [...T], options: SchemaOptions = {}) {
  return Type.Unsafe<Static<TUnion<T>>>({ ...options, oneOf: schemas });
}

const Size = (options: SchemaOptions = {}) => Type.String({ pattern: SIZE_PATTERN, ...options });
const Argv = (options: SchemaOptions = {}) => Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 256, ...options });
const BlobRef = () => Type.String({ pattern: BLOB_REF_PATTERN, description: 'content address: sha256:<64 hex>' });
const closed = { additionalProperties: false } as const;

/** Input file given to a subtask: mounted read-only at `/in/<name>`. */
export const InputFileSchema = Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,128}$', description: 'file name under /in' }), ref: BlobRef() }, closed);

const SplitSchema = OneOf(
  [
    Type.Object({ kind: Type.Literal('range'), start: Type.Integer(), end: Type.Integer({ description: 'exclusive' }), step: Type.Integer({ minimum: 1 }) }, closed),
    // framesPerSubtask's default is filled by validateJobSpec: ajv fills no defaults inside oneOf branches.
    Type.Object(
      {
        kind: Type.Literal('frames'),
        first: Type.Integer({ minimum: 0 }),
        last: Type.Integer({ minimum: 0, description: 'inclusive' }),
        framesPerSubtask: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
      },
      closed,
    ),
    Type.Object({ kind: Type.Literal('inputs'), inputs: Type.Array(InputFileSchema, { minItems: 1 }) }, closed),
  ],
  // The kind is checked before the branches, so an unknown kind is one clear problem.
  { type: 'object', required: ['kind'], properties: { kind: { enum: ['range', 'frames', 'inputs'] } } },
);

/**
 * The job spec: the one definition its TypeScript type and its JSON Schema both come from
 * (TypeBox). Fields with a default are required here because ajv fills defaults before it
 * checks `required`; the schema users see (`jobSpecJsonSchema`) lists them as optional.
 */
export const JobSpecSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 200 })),
    image: Type.String({ minLength: 1, maxLength: 256, pattern: IMAGE_PATTERN, description: 'container image, e.g. golemflow/compute:1' }),
    /** The image as a `docker save` archive, for images no registry serves: providers load it when they lack the image. */
    imageArchive: Type.Optional(Type.Object({ ref: BlobRef() }, { ...closed, description: 'the image as a `docker save` archive (a blob): providers that lack the image load it' })),
    command: Argv({
      description:
        'argv; placeholders {start} {end} {frame} {first} {last} {input} {name} {stem} {index} are filled per subtask ({first} {last}: the whole animation\'s frames; {input}: /in/<name> of an inputs split, {stem}: <name> without its extension)',
    }),
    split: SplitSchema,
    inputs: Type.Array(InputFileSchema, { default: [], description: 'files every subtask gets' }),
    resources: Type.Object(
      {
        cpus: Type.Number({ minimum: 0.01, maximum: 256, default: 1, description: 'at least 0.01 (Docker rounds less to no limit at all)' }),
        memory: Size({ default: '256m' }),
        disk: Type.Optional(Size()),
        gpu: Type.Integer({ minimum: 0, maximum: 16, default: 0 }),
        timeoutSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 600 }),
      },
      { ...closed, default: {} },
    ),
    redundancy: Type.Integer({ minimum: 1, maximum: 5, default: 2, description: 'copies of each subtask run on different providers and compared; a majority accepts a result' }),
    verification: Type.Object(
      {
        compare: StringEnum(['exact', 'image', 'command'], {
          default: 'exact',
          description: 'exact: sha256 of stdout and every output file; image: PNG outputs within the `image` tolerance, other outputs exact, stdout ignored; command: the `comparator` decides',
        }),
        /** For `compare: image`: how far two copies' PNG outputs may differ and still agree. */
        image: Type.Object(
          {
            pixelThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.1, description: 'per-pixel colour distance still counted equal (pixelmatch)' }),
            maxDiffRatio: Type.Number({ minimum: 0, maximum: 1, default: 0.001, description: 'largest share of differing pixels' }),
            minPsnr: Type.Unsafe<number | null>({ type: ['number', 'null'], minimum: 0, default: 40, description: 'smallest PSNR in dB (null: not checked)' }),
          },
          { ...closed, default: {} },
        ),
        /** For `compare: command`: the user's comparator, run in a container. */
        comparator: Type.Optional(
          Type.Object(
            {
              image: Type.String({ minLength: 1, maxLength: 256, pattern: IMAGE_PATTERN }),
              command: Argv(),
              timeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 60 }),
            },
            { ...closed, description: 'run with the two results under /in/a and /in/b (stdout in stdout, outputs by name); exit 0: same, 1: different' },
          ),
        ),
        /**
         * A crop spot check, as Golem's old Blender verifier did: `command` re-renders only the
         * rectangles in {crops} ("x0,y0,x1,y1 …", pixels, end exclusive), writing `NAME.crop-K.png`
         * for each output `NAME.png` and rectangle K; those pixels are compared with the result's.
         */
        cropCheck: Type.Optional(
          Type.Object(
            {
              command: Argv({ description: 'like command, plus {crops}' }),
              crops: Type.Integer({ minimum: 1, maximum: 16, default: 3 }),
              /** Each crop's width and height as a share of the frame's. */
              size: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.1 }),
              /** Share of lone results (not compared with a full copy) that get a crop check. */
              rate: Type.Number({ minimum: 0, maximum: 1, default: 1 }),
            },
            { ...closed, description: 'spot-check lone image results by re-rendering random crops elsewhere (used when a subtask runs one copy)' },
          ),
        ),
        maxExtraRuns: Type.Integer({ minimum: 0, maximum: 5, default: 2, description: 'tie-breaking copies when copies disagree' }),
        adaptive: Type.Optional(
          Type.Object(
            {
              trustAfter: Type.Integer({ minimum: 1, default: 10 }),
              minReputation: Type.Number({ minimum: 0, maximum: 1, default: 0.9 }),
              soloRate: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
              spotCheckRate: Type.Number({ minimum: 0, maximum: 1, default: 0.25 }),
            },
            { ...closed, description: 'let trusted providers work alone at a rate, spot-checked at random (off unless given)' },
          ),
        ),
      },
      { ...closed, default: {} },
    ),
    retries: Type.Object(
      {
        maxAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 3 }),
        heartbeatTimeoutSeconds: Type.Integer({ minimum: 2, maximum: 600, default: 10 }),
      },
      { ...closed, default: {} },
    ),
    /**
     * video: every subtask's PNG outputs, in subtask and name order, to an MP4 and a GIF at `fps`;
     * archive: every subtask's output files into one outputs.tar.gz.
     */
    merge: Type.Object(
      {
        kind: StringEnum(['sum', 'concat', 'video', 'archive', 'none'], {
          default: 'none',
          description: 'sum or concat stdout; video: the PNG outputs to video.mp4 and preview.gif; archive: every output file to outputs.tar.gz',
        }),
        fps: Type.Optional(Type.Integer({ minimum: 1, maximum: 120, description: 'frames per second of a video merge (default 12)' })),
      },
      { ...closed, default: {} },
    ),
    maxParallel: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
    /** What the requestor asks of the market (the defaults take the rest from `resources`). */
    demand: Type.Object(
      {
        runtime: StringEnum(['docker'], { default: 'docker' }),
        minCpus: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'default: resources.cpus' })),
        minMemory: Type.Optional(Size({ description: 'default: resources.memory' })),
        minDisk: Type.Optional(Size()),
        gpuModel: Type.Optional(Type.String({ minLength: 1 })),
        maxPrice: Type.Object(
          { start: Type.Optional(Type.Number({ minimum: 0 })), cpuSecond: Type.Optional(Type.Number({ minimum: 0 })), envSecond: Type.Optional(Type.Number({ minimum: 0 })) },
          { ...closed, default: {}, description: 'highest price accepted for each pricing coefficient, in GLM' },
        ),
        minReputation: Type.Number({ minimum: 0, maximum: 1, default: 0 }),
        allowedProviders: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
        blockedProviders: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
        preference: OneOf(
          [
            StringEnum(['cheapest', 'fastest', 'reliable']),
            Type.Object(
              {
                weights: Type.Object(
                  {
                    price: Type.Optional(Type.Number({ minimum: 0 })),
                    performance: Type.Optional(Type.Number({ minimum: 0 })),
                    reputation: Type.Optional(Type.Number({ minimum: 0 })),
                    uptime: Type.Optional(Type.Number({ minimum: 0 })),
                  },
                  { ...closed, minProperties: 1 },
                ),
              },
              closed,
            ),
          ],
          { default: 'cheapest' },
        ),
        /** How long a subtask waits for a matching offer before the job fails. */
        offerDeadlineSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 300 }),
        /** Expected wall seconds per subtask, for comparing prices. */
        estimateSeconds: Type.Number({ exclusiveMinimum: 0, default: 60 }),
      },
      { ...closed, default: {}, description: 'constraints and preference for choosing providers' },
    ),
    budget: Type.Optional(
      Type.Object(
        {
          amount: Type.String({ pattern: GLM_AMOUNT_PATTERN, description: 'GLM, decimal, above 0: locked in the escrow when the job starts' }),
          token: Type.String({ default: 'GLM' }),
        },
        closed,
      ),
    ),
  },
  { ...closed, $id: 'https://golemflow.dev/schema/job-spec.json', title: 'Golemflow job spec' },
);

export type InputFile = Static<typeof InputFileSchema>;
type SplitInput = Static<typeof SplitSchema>;
/** A split as validated: a frames split always has its framesPerSubtask. */
export type SplitSpec = Exclude<SplitInput, { kind: 'frames' }> | (Extract<SplitInput, { kind: 'frames' }> & { framesPerSubtask: number });
/** A job spec as validated: its defaults filled. */
export type JobSpec = Omit<Static<typeof JobSpecSchema>, 'split'> & { split: SplitSpec };
export type MergeKind = JobSpec['merge']['kind'];
export type CropCheckSpec = NonNullable<JobSpec['verification']['cropCheck']>;
export type DemandSpec = JobSpec['demand'];

/** The schema as users and editors read it: plain JSON, and a field with a default is optional. */
function forUsers(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forUsers);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = forUsers(v);
  const props = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && props) {
    out.required = (out.required as string[]).filter((name) => props[name]?.default === undefined);
    if (!(out.required as string[]).length) delete out.required;
  }
  return out;
}

/** JSON Schema of a job spec, as served to users and editors (`jobSpecSchema`). */
export const jobSpecJsonSchema = forUsers(JobSpecSchema) as Record<string, unknown>;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
(addFormatsModule as unknown as (a: Ajv) => void)(ajv);
const validateSchema = ajv.compile(JobSpecSchema);

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
    const amount = glmAmountProblem(spec.budget.amount);
    if (amount) problems.push({ path: '/budget/amount', message: amount });
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
