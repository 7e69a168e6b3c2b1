import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// Layers: imports point down only (issue 15). From the top:
//   cli → owner → mcp, http → ops → engine → agents → drivers → runners → store, git, notify → process
// with the vocabulary (engine/types.ts, errors, paths, duration, version, config) below them all.
// Each block lists what its files may not import; type-only imports of the layer above are
// allowed where a layer implements an interface declared there (drivers, agents). Only process/
// touches node:child_process; only store/ touches SQLite.
const ALL = [
  'mcp',
  'http',
  'cli',
  'owner',
  'ops',
  'notify',
  'engine',
  'agents',
  'drivers',
  'runners',
  'store',
  'git',
];
const dirs = (names) => names.flatMap((n) => [`../${n}/*`, `../../${n}/*`, `./${n}/*`]);
const NOT_TYPES = ['!../engine/types.js', '!../../engine/types.js'];
const PACKAGES = {
  sqlite: ['better-sqlite3'],
  protocols: ['@modelcontextprotocol/*', 'hono', 'hono/*', '@hono/*', '@a2a-js/*', '@agentclientprotocol/*'],
  processes: ['node:child_process', 'child_process'],
};
function layer(name, files, banned, { types = false, packages = [] } = {}) {
  return {
    files,
    ignores: ['src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: banned,
              allowTypeImports: types,
              message: `${name} sits below these: imports point down only (layers in eslint.config.js)`,
            },
            ...(packages.length
              ? [
                  {
                    group: packages,
                    message: `${name} does not use this package (layers in eslint.config.js)`,
                  },
                ]
              : []),
          ],
        },
      ],
    },
  };
}
const others = (...keep) => ALL.filter((n) => !keep.includes(n));
const LAYERS = [
  layer('process/', ['src/process/**/*.ts'], [...dirs(ALL), '../app.js'], {
    packages: [...PACKAGES.sqlite, ...PACKAGES.protocols],
  }),
  layer('store/', ['src/store/**/*.ts'], [...dirs(others()), ...NOT_TYPES, '../app.js', '../process/*'], {
    packages: [...PACKAGES.protocols, ...PACKAGES.processes],
  }),
  layer('git/', ['src/git/**/*.ts'], [...dirs(others()), ...NOT_TYPES, '../app.js'], {
    packages: [...PACKAGES.sqlite, ...PACKAGES.protocols, ...PACKAGES.processes],
  }),
  // Runners start agent processes here or elsewhere (ssh): only through process/.
  layer('runners/', ['src/runners/**/*.ts'], [...dirs(others('runners')), '../app.js'], {
    packages: [...PACKAGES.sqlite, ...PACKAGES.protocols, ...PACKAGES.processes],
  }),
  layer(
    'drivers/',
    ['src/drivers/**/*.ts'],
    [...dirs(others('drivers', 'runners')), ...NOT_TYPES, '../app.js', '../../app.js'],
    {
      types: true,
      packages: [
        ...PACKAGES.sqlite,
        '@modelcontextprotocol/*',
        'hono',
        'hono/*',
        '@hono/*',
        ...PACKAGES.processes,
      ],
    },
  ),
  layer(
    'agents/',
    ['src/agents/**/*.ts'],
    [...dirs(others('drivers', 'agents', 'runners')), ...NOT_TYPES, '../app.js'],
    {
      packages: [...PACKAGES.sqlite, ...PACKAGES.processes],
    },
  ),
  layer(
    'engine/',
    ['src/engine/**/*.ts'],
    [
      ...dirs(['mcp', 'http', 'cli', 'owner', 'ops', 'notify']),
      '../app.js',
      // Drivers only through their interface and traits.
      '../drivers/*',
      '!../drivers/driver.js',
    ],
    { packages: [...PACKAGES.sqlite, ...PACKAGES.protocols, ...PACKAGES.processes] },
  ),
  layer(
    'notify/',
    ['src/notify/**/*.ts'],
    [...dirs(['mcp', 'http', 'cli', 'owner', 'ops', 'drivers', 'store']), '../app.js'],
    {
      types: true,
      packages: [...PACKAGES.sqlite, ...PACKAGES.protocols, ...PACKAGES.processes],
    },
  ),
  layer(
    'ops/',
    ['src/ops/**/*.ts'],
    [...dirs(['mcp', 'http', 'cli', 'owner', 'drivers', 'store', 'agents']), '../app.js'],
    {
      types: true,
      packages: [...PACKAGES.sqlite, ...PACKAGES.protocols, ...PACKAGES.processes],
    },
  ),
  layer(
    'mcp/ and http/',
    ['src/mcp/**/*.ts', 'src/http/**/*.ts'],
    [...dirs(['cli', 'owner', 'drivers', 'store', 'agents', 'engine']), ...NOT_TYPES, '../app.js'],
    { types: true, packages: [...PACKAGES.sqlite, ...PACKAGES.processes] },
  ),
  layer('owner/', ['src/owner/**/*.ts'], [...dirs(['cli', 'mcp', 'http', 'drivers', 'store'])], {
    types: true,
    packages: [...PACKAGES.sqlite, '@modelcontextprotocol/*', 'hono', 'hono/*', '@hono/*'],
  }),
  layer(
    'cli/',
    ['src/cli/**/*.ts'],
    [...dirs(['drivers', 'store', 'engine']), ...NOT_TYPES, '../app.js', '../../app.js'],
    {
      types: true,
      packages: [...PACKAGES.sqlite, ...PACKAGES.processes],
    },
  ),
];

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
  ...LAYERS,
);
