// Lint: the determinism guard for workflows/ above all (no Node built-ins, no I/O libraries, activities
// by type only, no floating promises); light checks elsewhere.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.tools/**', 'out/**', 'dist/**', 'schema/migrations/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      'no-debugger': 'error',
      'no-dupe-keys': 'error',
      'no-unreachable': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'workflows must be deterministic: no Node built-ins (use an activity)' })),
            ...['pg', 'dockerode', 'viem', 'drizzle-orm', '@electric-sql/pglite', '@temporalio/activity', '@temporalio/client', '@temporalio/worker'].map((name) => ({
              name,
              message: 'workflows must not do I/O: call an activity instead',
            })),
          ],
          patterns: [
            { group: ['drizzle-orm/*', 'viem/*', 'node:*'], message: 'workflows must not do I/O: call an activity instead' },
            { group: ['../activities/*', '../schema/*', '../api/*', '../workers/*', '../blobs/*', '../infra/*'], allowTypeImports: true, message: 'workflows see activities and I/O modules by type only (import type)' },
          ],
        },
      ],
    },
  },
);
