/** npm run runtimes [-- --force]: builds the project's runtime images (only those whose recipe changed). */
import path from 'node:path';
import { Command } from 'commander';
import { ensureDocker } from '../infra/docker.js';
import { loadConfig } from '../infra/config.js';
import { ensureAllRuntimes } from '../runtimes/build.js';

const o = new Command('runtimes').option('--force', 'rebuild even when the recipe is unchanged').parse().opts<{ force?: boolean }>();
const config = loadConfig();
const log = (m: string) => console.log(`· ${m}`);
try {
  const docker = await ensureDocker(path.join(config.dataDir, 'logs', 'dockerd.log'), log);
  for (const img of await ensureAllRuntimes(docker, { workDir: path.join(config.dataDir, 'runtimes'), log, force: o.force }))
    console.log(`${img.tag.padEnd(28)} recipe ${img.recipeHash} ${img.built ? '(built)' : '(up to date)'}`);
} catch (e) {
  console.error(`runtimes: ${(e as Error).message}`);
  process.exit(1);
}
