/**
 * The market dashboard's routes: GET /dashboard (the page), /dashboard/app.js (dashboard/app.ts
 * bundled by esbuild when first asked, then kept in memory), /dashboard/app.css. Everything the
 * page needs comes from here: it works on a machine without internet.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dashboard');

let bundle: Promise<string> | null = null;

/** dashboard/app.ts and what it imports, as one browser script (built once per process). */
export function dashboardBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [path.join(dir, 'app.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    logLevel: 'silent',
  }).then(
    (r) => r.outputFiles[0].text,
    (e) => {
      bundle = null;
      throw e;
    },
  );
  return bundle;
}

const FILES: Record<string, { file?: string; type: string }> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/dashboard/app.js': { type: 'text/javascript; charset=utf-8' },
};

/** Answers the dashboard's routes; false for any other request. */
export async function handleDashboardRoute(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const route = FILES[(req.url ?? '').split('?')[0]];
  if (!route || req.method !== 'GET') return false;
  try {
    const body = route.file ? await readFile(path.join(dir, route.file), 'utf8') : await dashboardBundle();
    // The page is the node's own: no framing by other sites, no scripts from elsewhere.
    res.writeHead(200, {
      'content-type': route.type,
      'cache-control': 'no-cache',
      'x-frame-options': 'DENY',
      'content-security-policy': "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'",
    });
    res.end(body);
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`the dashboard could not be built: ${(e as Error).message}\n`);
  }
  return true;
}
