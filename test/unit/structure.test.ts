/**
 * The provider process is someone else's machine: it loads no API, database, chain or requestor
 * code. Checked by what workers/provider.ts imports, file by file (type-only imports aside).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

function imports(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const walk = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)) {
      if (m[1]) continue;
      const spec = m[2] ?? m[3];
      if (spec.startsWith('.')) walk(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  walk(path.resolve(entry));
  return { files: [...files].map((f) => path.relative(process.cwd(), f)), packages: [...packages] };
}

describe('what a provider node loads', () => {
  it('no API, database, chain or requestor code', () => {
    const { files, packages } = imports('workers/provider.ts');
    expect(files).toContain('activities/provider.ts');
    const forbidden = files.filter(
      (f) => /^(api|schema)\//.test(f) || /^activities\/(payments|requestor|market|compare)\.ts$/.test(f) || /^adapters\/(chain|marketData|events|capacity)\.ts$/.test(f) || f === 'workers/requestor.ts' || f === 'workers/sweeper.ts',
    );
    expect(forbidden).toEqual([]);
    expect(packages.filter((p) => /^(pg|drizzle-orm|@electric-sql\/pglite|graphql-yoga|graphql|solc)(\/|$)/.test(p))).toEqual([]);
  });
});

describe('where things live', () => {
  it('activities/ holds activity factories (and the shapes they share with workflows); adapters/ the I/O they and others use', () => {
    for (const f of fs.readdirSync('activities')) {
      const src = fs.readFileSync(path.join('activities', f), 'utf8');
      if (f === 'types.ts') continue;
      expect(src, f).toMatch(/export function create\w+Activities/);
    }
    for (const f of fs.readdirSync('adapters')) expect(fs.readFileSync(path.join('adapters', f), 'utf8'), f).not.toMatch(/export function create\w+Activities/);
  });

  it('workflows import activities only as types', () => {
    for (const f of fs.readdirSync('workflows')) {
      const src = fs.readFileSync(path.join('workflows', f), 'utf8');
      for (const m of src.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'\.\.\/(activities|adapters)\/[^']+'/gm)) expect(m[1], `${f}: ${m[0]}`).toBe('type ');
    }
  });
});

describe('one name per failure', () => {
  const sources = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? (['node_modules', 'test', '.data', '.git', 'dist', 'out', 'test-artifacts'].includes(e.name) ? [] : sources(path.join(dir, e.name))) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));

  it('every error class derives from GolemflowError', () => {
    const strays = sources('.').flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/class (\w+) extends (Error|TypeError|RangeError)\b/g)].map((m) => `${f}: ${m[1]}`));
    expect(strays).toEqual(['core/failures.ts: GolemflowError']);
  });

  it('the API\'s codes come from the failure names, in one place', async () => {
    const { apiCodeOf } = await import('../../api/errors.js');
    const { FailureType } = await import('../../core/failures.js');
    expect(apiCodeOf(FailureType.InvalidJobSpec)).toBe('INVALID_JOB_SPEC');
    expect(apiCodeOf(FailureType.NoMatchingOffer)).toBe('NO_MATCHING_OFFER');
    expect(apiCodeOf(FailureType.Unauthenticated)).toBe('UNAUTHENTICATED');
    expect(apiCodeOf(FailureType.BadInput)).toBe('BAD_USER_INPUT');
    const codes = Object.values(FailureType).map(apiCodeOf);
    expect(new Set(codes).size).toBe(codes.length);
    // No resolver spells a code itself.
    for (const f of sources('api')) expect(fs.readFileSync(f, 'utf8'), f).not.toMatch(/code:\s*'[A-Z_]+'/);
  });
});
