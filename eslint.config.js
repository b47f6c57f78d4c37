// The house rules, kept by the linter: the import boundaries of DESIGN.md's parts, stdout kept for the protocol,
// and typescript-eslint's recommended rules. A rule in the way is changed here, in the open, never silenced in a file.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** `@typescript-eslint/no-restricted-imports` with type-only imports allowed: types may cross a boundary, code may not. */
const boundary = (...patterns) => ['error', { patterns: patterns.map(([group, message]) => ({ group, message, allowTypeImports: true })) }];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.venv/**', 'scripts/**', 'test/fixtures/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.lint.json' })],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
    },
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        Buffer: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      // Stdout is the MCP protocol: diagnostics go to stderr only.
      'no-console': ['error', { allow: ['error', 'warn'] }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  // Only the registry opens a write scope: no other code may import withPermit.
  {
    files: ['src/**/*.ts', 'tools/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/registry/**', 'src/aws/write-gate.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [],
          patterns: [
            { group: ['**/aws/write-gate.js'], importNames: ['withPermit'], message: 'only src/registry opens a write scope (withPermit)' },
            { group: ['**/store/store.js'], importNames: ['rawDb'], message: 'rawDb is for tests and the bench; use a Store method' },
          ],
        },
      ],
    },
  },
  // Only the store runs SQL: no SQLite driver and no raw connection outside src/store (tests and the bench may look inside).
  {
    files: ['src/**/*.ts', 'tools/**/*.ts'],
    ignores: ['src/store/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': boundary(
        [['better-sqlite3'], 'only src/store runs SQL'],
        [['**/store/db.js'], 'only src/store runs SQL; use a Store method'],
      ),
    },
  },
  // The guard is pure: it imports only types, and nothing with I/O.
  {
    files: ['src/guard/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': boundary([
        ['../*', '!../guard/*', '@aws-sdk/*', 'better-sqlite3', 'node:*'],
        'the guard imports only types (it is pure: no SDK, DB or clock)',
      ]),
    },
  },
  // Tools see AWS through their context and the store through narrow ports; never the server, the registry or the store itself.
  {
    files: ['src/tools/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': boundary(
        [['**/server/*', '**/registry/*'], 'tools import neither the server nor the registry'],
        [['**/store/*', 'better-sqlite3'], 'tools import no store: use ctx.ports'],
        [['**/notify/*'], 'tools notify through ctx.ports.notify'],
      ),
    },
  },
  // The domain helpers tools use sit below the tools: they import no tool, server, registry or store code.
  {
    files: ['src/{sites,services,security,drift,backups,unused,prices,budget,policy,util,core,databases}/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': boundary(
        [['**/tools/*', '**/server/*', '**/registry/*', '**/worker/*'], 'a domain helper imports no tool, server, registry or worker'],
        [['**/store/*', 'better-sqlite3'], 'a domain helper takes ports, not the store'],
      ),
    },
  },
  // The store imports neither AWS nor the guard's rules.
  {
    files: ['src/store/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': boundary([
        ['**/aws/*', '@aws-sdk/*', '**/guard/*', '**/tools/*', '**/server/*', '**/registry/*'],
        'the store imports neither AWS, the guard, tools, the server nor the registry',
      ]),
    },
  },
  // The AWS layer knows nothing of the store, the registry, tools or the server.
  {
    files: ['src/aws/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': boundary([
        ['**/store/*', '**/registry/*', '**/tools/*', '**/server/*', '**/worker/*'],
        'the AWS layer imports no store, registry, tool, server or worker',
      ]),
    },
  },
  // The registry and the worker are below the MCP server.
  {
    files: ['src/registry/**/*.ts', 'src/worker/**/*.ts', 'src/proposals/**/*.ts', 'src/trust/**/*.ts', 'src/notify/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': boundary([
        ['**/server/*', '**/cli/*', '**/demo/*'],
        'the lifecycle does not import the MCP server or the CLIs',
      ]),
    },
  },
  // Finding control characters is the whole job of the terminal filter, the tag validator and their tests:
  // no-control-regex is off there only.
  {
    files: ['src/util/terminal.ts', 'src/guard/tag-rules.ts', 'test/terminal.test.ts', 'test/tags.test.ts'],
    rules: { 'no-control-regex': 'off' },
  },
  // The bench's report and the demo's story are their stdout; they speak no protocol there.
  {
    files: ['bench/**/*.ts', 'src/demo/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
