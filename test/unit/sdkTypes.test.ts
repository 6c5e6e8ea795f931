/**
 * The generated types follow the committed schema and the operations the project's clients send: regenerating
 * them changes nothing (run `npm run codegen` after changing either).
 */
import fs from 'node:fs/promises';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config from '../../codegen.js';

describe('sdk/generated.ts', () => {
  it('is what npm run codegen makes from api/schema.graphql and the operations of the SDK, the CLI and the dashboard', async () => {
    const [out] = await generate({ ...config, silent: true }, false);
    expect(out.filename).toBe('sdk/generated.ts');
    expect(await fs.readFile('sdk/generated.ts', 'utf8'), 'sdk/generated.ts is stale: run npm run codegen').toBe(out.content);
  }, 60_000);
});
