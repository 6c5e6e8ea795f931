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
    const forbidden = files.filter((f) => /^(api|schema)\//.test(f) || /^activities\/(chain|payments|requestor|market|marketData|compare|events)\.ts$/.test(f) || f === 'workers/requestor.ts' || f === 'workers/sweeper.ts');
    expect(forbidden).toEqual([]);
    expect(packages.filter((p) => /^(pg|drizzle-orm|@electric-sql\/pglite|graphql-yoga|graphql|solc)(\/|$)/.test(p))).toEqual([]);
  });
});
