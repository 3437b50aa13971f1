import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 300_000, hookTimeout: 180_000, fileParallelism: false } },
      { test: { name: 'engine', include: ['test/engine/**/*.test.ts'], environment: 'node', testTimeout: 180_000, hookTimeout: 180_000 } },
    ],
  },
});
