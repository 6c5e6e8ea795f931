/**
 * Builds the runtime images from their recipes, with no registry: each recipe names Debian
 * packages, the binaries to take from them and the project files to add; the builder extracts
 * the packages (`apt-get download` + `dpkg-deb -x`, nothing is installed on the host), copies
 * the binaries with the shared libraries they link (found with `ldd`), adds a non-root user,
 * and builds a `FROM scratch` image through the Docker API. An image is rebuilt only when its
 * recipe (or a file it adds) changes: the recipe's hash is kept as an image label.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type Docker from 'dockerode';

const run = promisify(execFile);
const BUILDER_VERSION = '2';
export const RECIPE_LABEL = 'dev.golemflow.recipe';
export const RUNTIMES_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface Recipe {
  name: string;
  version: string;
  description: string;
  packages: string[];
  binaries: string[];
  links?: Record<string, string>;
  busyboxApplets?: string[];
  files?: Record<string, string>;
  /** Directories copied whole from the extracted packages (data files, includes, config). */
  trees?: string[];
  /**
   * Take the shared libraries from Debian's packages too, not from the host: the library
   * packages (`lib*`) in the dependency closure of `packages` are downloaded and extracted.
   */
  libraryClosure?: boolean;
  env?: Record<string, string>;
}

export interface RuntimeImage {
  tag: string;
  recipeHash: string;
  built: boolean;
}

type Log = (msg: string) => void;

/** The recipes shipped with the project, one folder each. */
export async function listRecipes(): Promise<string[]> {
  const entries = await fs.readdir(RUNTIMES_DIR, { withFileTypes: true });
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() && (await fs.access(path.join(RUNTIMES_DIR, e.name, 'recipe.json')).then(() => true, () => false)))
      dirs.push(path.join(RUNTIMES_DIR, e.name));
  }
  return dirs.sort();
}

async function readRecipe(dir: string): Promise<{ recipe: Recipe; hash: string }> {
  const text = await fs.readFile(path.join(dir, 'recipe.json'), 'utf8');
  const recipe = JSON.parse(text) as Recipe;
  const h = createHash('sha256').update(BUILDER_VERSION).update(text);
  for (const src of Object.values(recipe.files ?? {})) h.update(await fs.readFile(path.join(dir, src)));
  return { recipe, hash: h.digest('hex').slice(0, 16) };
}

async function aptDownload(pkg: string, debDir: string): Promise<string> {
  const find = async () => (await fs.readdir(debDir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  const have = await find();
  if (have) return path.join(debDir, have);
  try {
    await run('apt-get', ['download', pkg], { cwd: debDir });
  } catch {
    // A fresh machine may have no package lists yet.
    await run('apt-get', ['update', '-qq']);
    await run('apt-get', ['download', pkg], { cwd: debDir });
  }
  const got = await find();
  if (!got) throw new Error(`apt-get download ${pkg} produced no .deb`);
  return path.join(debDir, got);
}

/** The library packages (`lib*`) the given packages depend on, recursively (virtual packages left out). */
async function libraryClosure(pkgs: string[]): Promise<string[]> {
  const { stdout } = await run(
    'apt-cache',
    ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...pkgs],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const names = new Set<string>();
  for (const line of stdout.split('\n')) if (/^lib[a-z0-9][a-z0-9+.-]*$/.test(line) && !line.endsWith('-dev')) names.add(line);
  for (const p of pkgs) names.delete(p);
  return [...names].sort();
}

/** Where the extracted packages keep their shared libraries. */
function libraryPath(extract: string): string {
  // blas/lapack sit behind Debian alternatives (made by postinst scripts, which never run here).
  return ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib', 'usr/lib', 'usr/lib/x86_64-linux-gnu/pulseaudio', 'usr/lib/x86_64-linux-gnu/blas', 'usr/lib/x86_64-linux-gnu/lapack']
    .map((d) => path.join(extract, d))
    .join(':');
}

/** Downloads, in one apt-get call, the packages not yet in `debDir`. */
async function aptDownloadMany(pkgs: string[], debDir: string): Promise<void> {
  const have = await fs.readdir(debDir);
  const missing = pkgs.filter((p) => !have.some((f) => f.startsWith(`${p}_`) && f.endsWith('.deb')));
  if (!missing.length) return;
  try {
    await run('apt-get', ['download', ...missing], { cwd: debDir, maxBuffer: 16 * 1024 * 1024 });
  } catch {
    // One package at a time (below) says which one is missing.
  }
}

/** The shared libraries (and loader) a binary links, as absolute paths (in the extracted packages first, else the host's), with the names it asks for. */
async function linkedLibraries(binary: string, searchPath?: string): Promise<Array<{ name: string; file: string }>> {
  let out = '';
  try {
    out = (await run('ldd', [binary], searchPath ? { env: { ...process.env, LD_LIBRARY_PATH: searchPath } } : {})).stdout;
  } catch (e) {
    const msg = String((e as { stdout?: string; stderr?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '');
    if (/not a dynamic executable|statically linked/.test(msg)) return [];
    throw e;
  }
  if (/statically linked/.test(out)) return [];
  const libs: Array<{ name: string; file: string }> = [];
  for (const line of out.split('\n')) {
    const linked = /^\s*(\S+)\s*=>\s*(\/\S+)/.exec(line);
    const loader = /^\s*(\/\S+)\s*\(/.exec(line);
    if (linked) libs.push({ name: linked[1], file: linked[2] });
    else if (loader) libs.push({ name: path.basename(loader[1]), file: loader[1] });
    else if (/not found/.test(line)) throw new Error(`${binary}: ${line.trim()}`);
  }
  return libs;
}

async function copyInto(rootfs: string, hostPath: string, destPath = hostPath): Promise<void> {
  const dest = path.join(rootfs, destPath);
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await fs.copyFile(await fs.realpath(hostPath), dest);
  await fs.chmod(dest, (await fs.stat(hostPath)).mode & 0o777);
}

async function assembleRootfs(dir: string, recipe: Recipe, work: string, log: Log): Promise<string> {
  const debDir = path.join(work, 'debs');
  const extract = path.join(work, 'extract');
  const rootfs = path.join(work, 'rootfs');
  await fs.rm(rootfs, { recursive: true, force: true });
  await fs.mkdir(debDir, { recursive: true });
  await fs.mkdir(extract, { recursive: true });
  const libs = recipe.libraryClosure ? await libraryClosure(recipe.packages) : [];
  if (libs.length) log(`  ${libs.length} library packages in the dependency closure`);
  await aptDownloadMany([...recipe.packages, ...libs], debDir);
  for (const pkg of [...recipe.packages, ...libs]) {
    const deb = await aptDownload(pkg, debDir);
    if (recipe.packages.includes(pkg)) log(`  package ${path.basename(deb)}`);
    await run('dpkg-deb', ['-x', deb, extract]);
  }
  const searchPath = recipe.libraryClosure ? libraryPath(extract) : undefined;
  for (const bin of recipe.binaries) {
    const src = path.join(extract, bin);
    await copyInto(rootfs, src, bin);
    for (const lib of await linkedLibraries(src, searchPath)) {
      // A library from the packages goes, under the name the binary asks for, where the loader
      // looks without a cache; a host library where it is on the host.
      const dest = lib.file.startsWith(extract + path.sep) ? path.join('/usr/lib/x86_64-linux-gnu', lib.name) : lib.file;
      await copyInto(rootfs, lib.file, dest);
    }
  }
  for (const tree of recipe.trees ?? []) {
    await fs.mkdir(path.dirname(path.join(rootfs, tree)), { recursive: true });
    // Links into packages not taken (fonts, say) are left out rather than failing the build.
    const exists = (p: string) => fs.stat(p).then(() => true, () => false);
    await fs.cp(path.join(extract, tree), path.join(rootfs, tree), { recursive: true, dereference: true, filter: exists });
  }
  for (const applet of recipe.busyboxApplets ?? []) {
    const link = path.join(rootfs, 'bin', applet);
    await fs.symlink('busybox', link).catch((e) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
  }
  for (const [link, target] of Object.entries(recipe.links ?? {})) {
    await fs.mkdir(path.dirname(path.join(rootfs, link)), { recursive: true });
    await fs.symlink(target, path.join(rootfs, link));
  }
  for (const [dest, src] of Object.entries(recipe.files ?? {})) await copyInto(rootfs, path.join(dir, src), dest);
  await fs.mkdir(path.join(rootfs, 'etc'), { recursive: true });
  await fs.writeFile(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n');
  await fs.writeFile(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  for (const d of ['tmp', 'in', 'out', 'work']) await fs.mkdir(path.join(rootfs, d), { recursive: true, mode: 0o1777 });
  return rootfs;
}

/** Makes sure the image of the recipe in `dir` exists and matches the recipe; builds it when not. */
export async function ensureRuntimeImage(docker: Docker, dir: string, opts: { workDir: string; log?: Log; force?: boolean }): Promise<RuntimeImage> {
  const log = opts.log ?? (() => {});
  const { recipe, hash } = await readRecipe(dir);
  const tag = `${recipe.name}:${recipe.version}`;
  if (!opts.force) {
    const existing = await docker
      .getImage(tag)
      .inspect()
      .catch(() => undefined);
    if (existing?.Config?.Labels?.[RECIPE_LABEL] === hash) return { tag, recipeHash: hash, built: false };
  }
  log(`building runtime image ${tag} (recipe ${hash})`);
  const work = path.join(opts.workDir, recipe.name.replace(/[^a-z0-9]+/gi, '_'));
  const rootfs = await assembleRootfs(dir, recipe, work, log);
  const ctx = path.join(work, 'context');
  await fs.rm(ctx, { recursive: true, force: true });
  await fs.mkdir(ctx, { recursive: true });
  await run('tar', ['-C', rootfs, '-cf', path.join(ctx, 'rootfs.tar'), '.']);
  const env = Object.entries(recipe.env ?? {}).map(([k, v]) => `ENV ${k}=${v}`);
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    ['FROM scratch', 'ADD rootfs.tar /', ...env, 'USER 65534:65534', 'WORKDIR /work', `LABEL ${RECIPE_LABEL}=${hash}`, ''].join('\n'),
  );
  const { stdout: tarOut } = await run('tar', ['-C', ctx, '-cf', path.join(work, 'context.tar'), '.']);
  void tarOut;
  const stream = await docker.buildImage(path.join(work, 'context.tar'), { t: tag, labels: { [RECIPE_LABEL]: hash } });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: Array<{ error?: string }>) => {
      const failed = res?.find((r) => r.error);
      if (err || failed) reject(err ?? new Error(`building ${tag}: ${failed!.error}`));
      else resolve();
    }),
  );
  log(`built ${tag}`);
  return { tag, recipeHash: hash, built: true };
}

/** Builds (when needed) every runtime image shipped with the project. */
export async function ensureAllRuntimes(docker: Docker, opts: { workDir: string; log?: Log; force?: boolean }): Promise<RuntimeImage[]> {
  const images: RuntimeImage[] = [];
  for (const dir of await listRecipes()) images.push(await ensureRuntimeImage(docker, dir, opts));
  return images;
}
