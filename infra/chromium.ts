/**
 * Debian's Chromium for the browser tests (GraphiQL, the dashboard), driven by playwright-core:
 * installed with apt as root when missing, launched headless with the flags this machine needs.
 */
import { chromium, type Browser } from 'playwright-core';
import { ensurePackage } from './apt.js';

export async function launchChromium(log?: (m: string) => void): Promise<Browser> {
  const executablePath = await ensurePackage('chromium', 'chromium', 'the browser tests', log);
  return chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}
