import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/dashboard/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-console': 'error' },
  },
  {
    // The engine knows runs, not protocols: drivers only through drivers/driver.ts, no SQL driver,
    // no MCP, HTTP or agent-protocol packages, no front end.
    files: ['src/engine/**/*.ts'],
    ignores: ['src/engine/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../drivers/*', '!../drivers/driver.js'],
              message: 'use the Driver interface and its traits',
            },
            {
              group: [
                'better-sqlite3',
                '@modelcontextprotocol/*',
                'hono',
                'hono/*',
                '@hono/*',
                '@a2a-js/*',
                '@agentclientprotocol/*',
              ],
              message: 'the engine reaches storage through store/ and agents through drivers',
            },
            {
              group: ['../mcp/*', '../http/*', '../cli/*', '../owner/*', '../ops/*'],
              message: 'fronts call the engine, not the reverse',
            },
          ],
        },
      ],
    },
  },
);
