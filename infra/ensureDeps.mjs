// Runs before `npm run demo` and `npm test` (pre-scripts): installs the npm dependencies on a
// fresh clone, or when package-lock.json changed since the last install. Plain JS: tsx is one of them.
import { execSync } from 'node:child_process';
import { statSync } from 'node:fs';

const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
};
const installed = mtime('node_modules/.package-lock.json');
if (!installed || installed < mtime('package-lock.json')) {
  console.log('· installing npm dependencies (npm ci)');
  execSync('npm ci --no-audit --no-fund --loglevel=error', { stdio: 'inherit' });
}
