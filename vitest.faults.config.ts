import { defineConfig } from 'vitest/config';

// `npm run test:faults`: fault injection, fuzzing, soak and security tests (slower than `npm test`).
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
