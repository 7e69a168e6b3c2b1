import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Fault injection, fuzzing and soak: `npm run test:faults`.
    exclude: ['test/faults/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The person's ~/.claude, ~/.codex, ~/.gemini are the same after the suite (issue 18).
    globalSetup: ['test/global-homes.ts'],
    pool: 'forks',
    maxWorkers: 2,
  },
});
