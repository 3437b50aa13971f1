import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Suites share two cores with code-server and Chromium: one file at a time.
    fileParallelism: false,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 300_000, hookTimeout: 180_000 } },
      { test: { name: 'engine', include: ['test/engine/**/*.test.ts'], environment: 'node', testTimeout: 180_000, hookTimeout: 180_000 } },
    ],
  },
});
