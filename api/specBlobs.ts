/**
 * A submitted spec's blobs must be here before its job starts: otherwise every provider would
 * fail the same way minutes later. An image archive must also hold the job's image (and no
 * other), which its manifest tells without loading anything.
 */
import { imageArchiveProblem } from '../blobs/imageArchive.js';
import type { SpecProblem } from '../core/failures.js';
import type { JobSpec } from '../core/jobSpec.js';
import type { ApiDeps } from './deps.js';
import { invalidSpec } from './errors.js';
import { requestorHolds } from './blobAccess.js';

/** Every blob a spec names must be one its submitter sent (or its jobs made): a hash alone opens nothing. */
export async function checkSpecBlobs(deps: Pick<ApiDeps, 'blobs' | 'db'>, spec: JobSpec, requestorId: string): Promise<void> {
  const refs: Array<[string, string]> = [
    ...spec.inputs.map((f, i): [string, string] => [`/inputs/${i}/ref`, f.ref]),
    ...(spec.split.kind === 'inputs' ? spec.split.inputs.map((f, i): [string, string] => [`/split/inputs/${i}/ref`, f.ref]) : []),
    ...(spec.imageArchive ? [['/imageArchive/ref', spec.imageArchive.ref] as [string, string]] : []),
  ];
  const problems: SpecProblem[] = [];
  for (const [where, ref] of refs) {
    if (!(await deps.blobs.has(ref)) || !(await requestorHolds(deps.db, requestorId, ref)))
      problems.push({ path: where, message: `no blob ${ref} has been uploaded by requestor ${requestorId} (PUT it to /blobs/sha256/<hex> with your API key first)` });
  }
  if (spec.imageArchive && !problems.some((p) => p.path === '/imageArchive/ref')) {
    const problem = await imageArchiveProblem(spec.image, await deps.blobs.open(spec.imageArchive.ref));
    if (problem) problems.push({ path: '/imageArchive', message: `the archive ${problem}` });
  }
  if (problems.length) throw invalidSpec(problems);
}
