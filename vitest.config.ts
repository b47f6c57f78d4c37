import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-env.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two workers; moto is shared, so every test names its resources freshly.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
