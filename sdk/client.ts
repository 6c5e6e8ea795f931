/**
 * The Golemflow SDK: what a program needs to use the market, typed from the API's own schema
 * (sdk/generated.ts). Connect as a requestor, quote and submit jobs (a spec, YAML text, or a job
 * file with local inputs), upload and download blobs, follow a job's events as they happen,
 * await its result, cancel it or raise its budget; and `map`, golem-js style: run a command over
 * input files, one subtask each, results in order. The calls themselves are sdk/api.ts's.
 *
 *   const gf = await Golemflow.connect();              // GOLEMFLOW_API, GOLEMFLOW_API_KEY
 *   const job = await gf.submit({ image, command, split: { kind: 'range', start: 0, end: 100, step: 10 }, merge: { kind: 'sum' } });
 *   for await (const e of job.events()) console.log(e.type, e.message);
 *   console.log((await job.result()).value);
 */
import path from 'node:path';
import { BlobClient, refOfFile } from '../blobs/client.js';
import { readNodeKey } from './nodeKey.js';
import { GolemflowApi, Job, type JobEvent, type JobSpecInput, type SubtaskResult } from './api.js';
import { loadJobFile, uploadJobFiles } from './jobFile.js';

export * from './api.js';

export interface ConnectOptions {
  /** The requestor node's API (default GOLEMFLOW_API, else http://127.0.0.1:4000). */
  url?: string;
  /** The requestor's API key (default GOLEMFLOW_API_KEY, else the key a node on this machine wrote to <GOLEMFLOW_DATA>/requestor.key). */
  apiKey?: string;
  /** How long a blob transfer keeps trying a node it cannot reach, in ms (default 10 s). */
  blobRetryMs?: number;
}

/** What `submitFile` did: the job, and the job file's local inputs it sent (or found on the node already). */
export interface SubmittedFile {
  job: Job;
  files: number;
  uploaded: number;
  uploadedBytes: number;
}

export class Golemflow extends GolemflowApi {
  private constructor(
    url: string,
    apiKey: string | null,
    private readonly blobRetryMs: number,
  ) {
    super(url, apiKey);
  }

  /** A client for the node at `url`, acting as the requestor the key names. */
  static async connect(o: ConnectOptions = {}): Promise<Golemflow> {
    const url = o.url ?? process.env.GOLEMFLOW_API ?? 'http://127.0.0.1:4000';
    const apiKey = o.apiKey ?? (process.env.GOLEMFLOW_API_KEY || (await readNodeKey(path.resolve(process.env.GOLEMFLOW_DATA ?? '.data'))));
    return new Golemflow(url, apiKey ?? null, o.blobRetryMs ?? 10_000);
  }

  /** The node's blob store, as this requestor. */
  blobs(): BlobClient {
    return new BlobClient(this.url, this.apiKey ? `Bearer ${this.apiKey}` : undefined, this.blobRetryMs);
  }

  /** Sends a file to the node (skipped when it holds those bytes already); returns its ref for a spec's inputs. */
  async uploadFile(file: string): Promise<string> {
    const ref = await refOfFile(file);
    const blobs = this.blobs();
    if (!(await blobs.has(ref))) await blobs.uploadFile(file, ref);
    return ref;
  }

  /** Fetches a blob this requestor may read (its uploads, its jobs' outputs) into `file`, checking its hash. */
  async downloadFile(ref: string, file: string): Promise<void> {
    await this.blobs().download(ref, file);
  }

  /**
   * Submits a job file (YAML or JSON): checks it (a mistake throws InvalidJobSpecError naming
   * file:line), uploads the local files it names, then submits the spec with their refs.
   */
  async submitFile(file: string, o: { onLargeFile?: (file: string, size: number) => void } = {}): Promise<SubmittedFile> {
    const loaded = await loadJobFile(file);
    const { sent, bytes } = await uploadJobFiles(this.blobs(), loaded.uploads, o.onLargeFile);
    return { job: await this.submit(loaded.spec as JobSpecInput), files: loaded.uploads.size, uploaded: sent, uploadedBytes: bytes };
  }

  /**
   * golem-js's map: runs `command` once per input file (each a subtask, the file under /in by
   * its name), and returns each subtask's result in the order of the inputs.
   */
  async map(files: string[], o: Omit<JobSpecInput, 'split'> & { onEvent?: (e: JobEvent) => void }): Promise<SubtaskResult[]> {
    const inputs = [];
    for (const file of files) inputs.push({ name: path.basename(file), ref: await this.uploadFile(file) });
    const { onEvent, ...spec } = o;
    const job = await this.submit({ ...spec, split: { kind: 'inputs', inputs } } as JobSpecInput);
    if (onEvent) for await (const e of job.events()) onEvent(e);
    await job.result();
    return job.subtaskResults();
  }
}
